"""Webhook sink: each configured target gets its own spool, writer thread and HTTP client.

Each event (filtered by the target's kinds/cameras) becomes one signed POST of its JSON, in spool
order, so a receiver sees a camera's events in order; a slow or dead target holds up only its own
queue (the fan-out gives every sink its own thread, and publish() only appends to the spool).
Outcomes of a POST, by the durable-sink contract:

- 2xx: delivered; the spool moves on;
- 400, 410, 413, 415, 422: the receiver refuses this payload for good: kept in rejected.jsonl,
  counted as refused, logged; the queue moves on;
- anything else (connection refused, timeout, 5xx, 401/403/404 of a receiver being set up, 429):
  retried with back-off up to retry_max_s, and given up only once the record is older than
  give_up_after_s (counted, logged, kept in rejected.jsonl; the event is still in SQL).

Headers: X-Alprd-Timestamp (unix seconds), X-Alprd-Signature (alprd.sinks.signing), Idempotency-Key
and X-Alprd-Event-Id (the event id: a retry after a lost response, or a replay after a crash
between delivery and acknowledgement, repeats it), X-Alprd-Event-Kind, X-Alprd-Attempt.
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Sequence
from urllib.parse import urlsplit

import httpx

from alprd import __version__ as _version
from alprd.config import WebhookTargetConfig
from alprd.sinks import signing
from alprd.sinks.delivery import Delivery, DeliveryCounters, DeliverySink, give_up
from alprd.sinks.durable import Rejected, TargetUnavailable

log = logging.getLogger(__name__)
# httpx logs every request at INFO; the sink logs state changes once (DESIGN.md), not per event
logging.getLogger("httpx").setLevel(logging.WARNING)

REFUSED_STATUS = frozenset({400, 410, 413, 415, 422})


def mask_url(url: str) -> str:
    """scheme://host[:port]/path: no user info, no query (tokens live there), for logs."""
    u = urlsplit(url)
    host = u.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    return f"{u.scheme}://{host}{f':{u.port}' if u.port else ''}{u.path}"


def body_of(d: Delivery, attach_crop: bool) -> bytes:
    """The POST body: the event JSON, plus "crop_jpeg" (base64) when attached and present."""
    payload = dict(d.event)
    if attach_crop and d.crop_jpeg:
        payload["crop_jpeg"] = d.crop_jpeg
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class WebhookTarget:
    """The durable mechanism's target for one URL: write() POSTs records one by one, in order."""

    def __init__(self, cfg: WebhookTargetConfig, secret: bytes, counters: DeliveryCounters,
                 *, transport: httpx.BaseTransport | None = None) -> None:
        self.cfg = cfg
        self.where = f"webhook {cfg.name} ({mask_url(cfg.url)})"
        self._secret = secret
        self.counters = counters
        verify: bool | str = cfg.ca_file if cfg.ca_file else cfg.verify_tls
        headers = {**cfg.headers, "User-Agent": f"alprd/{_version}"}
        self._client = httpx.Client(timeout=cfg.timeout_s, verify=verify, headers=headers,
                                    follow_redirects=False, transport=transport)
        self._attempts: dict[str, int] = {}
        self._done: set[str] = set()  # delivered ids of a batch that is being retried

    def write(self, records: Sequence[str]) -> list[Rejected]:
        rejected: list[Rejected] = []
        for line in records:
            try:
                d = Delivery.parse(line)
            except (ValueError, TypeError) as exc:
                self.counters.add(refused=1, pending=-1)
                rejected.append(Rejected(line, f"unreadable delivery record ({exc})"))
                continue
            if d.event_id in self._done:
                continue
            bad = self._post(d)
            if bad is not None:
                rejected.append(bad)
            self._done.add(d.event_id)
        self._done.clear()
        return rejected

    def _post(self, d: Delivery) -> Rejected | None:
        """None once delivered; a Rejected for a refused or given-up record; raises
        TargetUnavailable to have it retried."""
        attempt = self._attempts.get(d.event_id, 0) + 1
        self._attempts[d.event_id] = attempt
        body = body_of(d, self.cfg.attach_crop)
        ts = int(time.time())
        headers = {"Content-Type": "application/json",
                   signing.TIMESTAMP_HEADER: str(ts),
                   signing.SIGNATURE_HEADER: signing.signature(self._secret, ts, body),
                   signing.IDEMPOTENCY_HEADER: d.event_id, signing.EVENT_ID_HEADER: d.event_id,
                   signing.EVENT_KIND_HEADER: d.kind, signing.ATTEMPT_HEADER: str(attempt)}
        try:
            status = self._client.post(self.cfg.url, content=body, headers=headers).status_code
        except httpx.HTTPError as exc:
            return self._failed(d, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".rstrip(": "))
        if 200 <= status < 300:
            self.counters.add(delivered=1, pending=-1)
            self._attempts.pop(d.event_id, None)
            return None
        if status in REFUSED_STATUS:
            self.counters.add(refused=1, pending=-1)
            self._attempts.pop(d.event_id, None)
            return Rejected(d.line, f"{self.where} refused event {d.event_id} with HTTP {status}")
        return self._failed(d, f"HTTP {status}")

    def _failed(self, d: Delivery, why: str) -> Rejected:
        self.counters.add(retried=1)
        bad = give_up(d, self.cfg, self.counters, self.where, why)
        if bad is None:
            raise TargetUnavailable(why)
        self._attempts.pop(d.event_id, None)
        return bad

    def metrics(self) -> dict:
        return self.counters.as_dict()

    def close(self) -> None:
        self._client.close()


class WebhookSink(DeliverySink):
    """The Sink of one webhook target (named ``webhook:<name>`` in status and metrics)."""

    def __init__(self, cfg: WebhookTargetConfig, spool_dir: str | Path, *, secret: bytes | None = None,
                 crop_roots: list[Path] | None = None, fsync: bool = True,
                 transport: httpx.BaseTransport | None = None) -> None:
        if secret is None:
            secret = signing.read_secret(cfg.secret_env, cfg.secret_file)
        counters = DeliveryCounters()
        self.target = WebhookTarget(cfg, secret, counters, transport=transport)
        try:
            super().__init__(f"webhook:{cfg.name}", cfg, self.target, counters, spool_dir,
                             batch_size=1, attach_crop=cfg.attach_crop, crop_roots=crop_roots,
                             fsync=fsync, label=f"webhook {cfg.name}", logger=log)
        except BaseException:
            self.target.close()
            raise
