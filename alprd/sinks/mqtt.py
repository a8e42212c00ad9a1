"""MQTT sink (paho-mqtt): every event at QoS 1, the last plate per camera retained, and Home
Assistant discovery, durable like the SQL sink.

publish() spools the event (alprd.sinks.delivery); the writer thread publishes a batch and
acknowledges the spool only once the broker has sent PUBACK for every message of it, so a QoS-1
message the broker has not acknowledged is never lost: while the broker is away paho keeps the
batch in memory and resends it after reconnecting (back-off from 1 s up to retry_max_s), and the
spool keeps it across a restart. Like any QoS-1 publisher this is at-least-once: a replay after a
crash repeats messages, which subscribers drop by event_id.

On every connect the sink publishes, retained, "online" on <prefix>/status (the broker publishes
"offline" there as the last will when the daemon dies; a clean stop publishes it too) and the Home
Assistant discovery configs (alprd.sinks.ha_discovery), so Home Assistant shows each camera as a
device whose availability follows the daemon.
"""
from __future__ import annotations

import json
import logging
import ssl
import threading
import time
from pathlib import Path
from typing import Callable, Iterable, Sequence

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from alprd import __version__ as _version
from alprd.config import MqttSinkConfig
from alprd.sinks import ha_discovery as ha
from alprd.sinks.delivery import Delivery, DeliveryCounters, DeliverySink, give_up
from alprd.sinks.durable import Rejected, TargetUnavailable
from alprd.sinks.signing import read_secret

log = logging.getLogger(__name__)

ACK_WAIT_S = 10.0
LISTS_REFRESH_S = 30.0  # how often the plate lists are re-read for discovery (while idle)  # a batch whose PUBACKs have not all come within this is retried (not re-sent)


def _acked(info: paho.MQTTMessageInfo) -> bool:
    """The broker sent PUBACK for it (a message published while disconnected never counts)."""
    try:
        return info.rc == paho.MQTT_ERR_SUCCESS and info.is_published()
    except (RuntimeError, ValueError):
        return False


class MqttTarget:
    """The durable mechanism's target: one paho client, its connection state and PUBACKs."""

    def __init__(self, cfg: MqttSinkConfig, counters: DeliveryCounters, *, cameras: Iterable[str] = (),
                 lists: Iterable[ha.ListSpec] = (), password: str | None = None,
                 lists_source: Callable[[], list[ha.ListSpec]] | None = None) -> None:
        self.cfg = cfg
        self.counters = counters
        self.where = f"MQTT broker {cfg.host}:{cfg.port}"
        self.node = cfg.homeassistant.node_id or ha.default_node_id()
        self.cameras = list(cameras)
        self._fixed_lists = [*cfg.homeassistant.lists, *lists]
        self._lists_source = lists_source  # the plate lists in SQL, re-read while idle
        self._source_lists: list[ha.ListSpec] = self._read_lists() or []
        self._disc_lock = threading.Lock()
        self._config_topics: set[str] = set()  # discovery configs published (to remove stale ones)
        self._status = ha.availability_topic(cfg.topic_prefix)
        self._cv = threading.Condition()
        self._connected = False
        self._ever_connected = False
        self._closing = False
        self._refused = False
        self._inflight: dict[tuple[str, str], paho.MQTTMessageInfo] = {}
        self.client = self._make_client(password)
        self.client.connect_async(cfg.host, cfg.port, keepalive=cfg.keepalive_s)
        self.client.loop_start()

    def _make_client(self, password: str | None) -> paho.Client:
        cfg = self.cfg
        c = paho.Client(CallbackAPIVersion.VERSION2, client_id=cfg.client_id or f"alprd-{self.node}",
                        clean_session=True, protocol=paho.MQTTv311)
        c.will_set(self._status, ha.OFFLINE, qos=1, retain=True)
        if cfg.username:
            c.username_pw_set(cfg.username, password)
        if cfg.tls.enabled:
            c.tls_set(ca_certs=cfg.tls.ca_file, certfile=cfg.tls.cert_file, keyfile=cfg.tls.key_file,
                      cert_reqs=ssl.CERT_REQUIRED)
            c.tls_insecure_set(cfg.tls.insecure)
        c.reconnect_delay_set(1, max(1, int(cfg.retry_max_s)))
        c.max_inflight_messages_set(max(20, cfg.batch_size * 2))
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_publish = self._on_publish
        return c

    # --- paho callbacks (its network thread) ---------------------------------------------------
    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            if not self._refused:  # once per streak: paho retries with back-off
                log.warning("MQTT: %s refused the connection (%s); retrying, events are spooled",
                            self.where, reason_code)
            self._refused = True
            return
        self._refused = False
        self._publish_discovery()
        client.publish(self._status, ha.ONLINE, qos=1, retain=True)
        with self._cv:
            self._connected = True
            self._cv.notify_all()
        log.info("MQTT: connected to %s%s", self.where, " again" if self._ever_connected else "")
        self._ever_connected = True

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        with self._cv:
            was = self._connected
            self._connected = False
            self._cv.notify_all()
        if was and not self._closing:
            log.warning("MQTT: lost the connection to %s (%s); reconnecting, events are spooled",
                        self.where, reason_code)

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        with self._cv:  # paho calls this holding its own lock: never publish under self._cv
            self._cv.notify_all()

    # --- what is published -----------------------------------------------------------------------
    @property
    def lists(self) -> list[ha.ListSpec]:
        names = {x if isinstance(x, str) else x[0] for x in self._source_lists}
        return [*self._source_lists, *(x for x in self._fixed_lists
                                       if (x if isinstance(x, str) else x[0]) not in names)]

    def discovery(self) -> list[tuple[str, dict]]:
        h = self.cfg.homeassistant
        if not h.enabled:
            return []
        return ha.discovery_messages(discovery_prefix=h.prefix, topic_prefix=self.cfg.topic_prefix,
                                     node=self.node, cameras=self.cameras, lists=self.lists,
                                     match_off_s=h.match_off_s, version=_version)

    def _publish_discovery(self) -> None:
        """Publish every config (retained) and an empty retained payload on the topic of each one
        that is gone (a list removed), which makes Home Assistant drop that entity."""
        with self._disc_lock:
            msgs = self.discovery()
            for topic, payload in msgs:
                self.client.publish(topic, json.dumps(payload, ensure_ascii=False), qos=1, retain=True)
            topics = {t for t, _ in msgs}
            for topic in self._config_topics - topics:
                self.client.publish(topic, b"", qos=1, retain=True)
            self._config_topics = topics

    def _read_lists(self) -> list[ha.ListSpec] | None:
        if self._lists_source is None:
            return None
        try:
            return list(self._lists_source())
        except Exception as exc:  # noqa: BLE001 - no lists table yet, database away: keep the last
            log.debug("MQTT: cannot read the plate lists (%s)", exc)
            return None

    def idle(self) -> float:
        """Called by the writer while its queue is empty: re-read the plate lists, and publish
        the discovery configs again when they changed."""
        lists = self._read_lists()
        if lists is not None and lists != self._source_lists:
            self._source_lists = lists
            log.info("MQTT: plate lists changed; publishing the Home Assistant configs again")
            if self._connected:
                self._publish_discovery()
        return LISTS_REFRESH_S

    @property
    def connected(self) -> bool:
        return self._connected

    def write(self, records: Sequence[str]) -> list[Rejected]:
        """Publish the batch (messages still in flight from a failed try are not sent again)
        and return once the broker acknowledged all of it; TargetUnavailable otherwise."""
        rejected: list[Rejected] = []
        parsed: list[Delivery] = []
        for line in records:
            try:
                parsed.append(Delivery.parse(line))
            except (ValueError, TypeError) as exc:
                self.counters.add(refused=1, pending=-1)
                rejected.append(Rejected(line, f"unreadable delivery record ({exc})"))
        if not parsed:
            return rejected
        if not self._connected:
            return rejected + self._failed(parsed, f"not connected to {self.where}")
        keys: list[tuple[str, str]] = []
        for d in parsed:
            payload = json.dumps(d.event, ensure_ascii=False, separators=(",", ":"))
            for topic, retain in ha.event_messages(self.cfg.topic_prefix, d.event,
                                                   retain_last_plate=self.cfg.retain_last_plate):
                key = (d.event_id, topic)
                if key not in self._inflight:
                    self._inflight[key] = self.client.publish(topic, payload, qos=1, retain=retain)
                keys.append(key)
        infos = [self._inflight[k] for k in set(keys)]
        deadline = time.monotonic() + ACK_WAIT_S
        while True:
            missing = sum(not _acked(i) for i in infos)
            if not missing or not self._connected or time.monotonic() >= deadline:
                break
            with self._cv:
                self._cv.wait(0.2)  # woken by each PUBACK and by a disconnect
        if missing:
            for k in keys:  # one sent while the connection dropped is sent again next try
                if self._inflight[k].rc != paho.MQTT_ERR_SUCCESS:
                    self._inflight.pop(k, None)
            return rejected + self._failed(parsed, f"{self.where} has not acknowledged {missing} "
                                           f"of {len(infos)} messages")
        for k in keys:
            self._inflight.pop(k, None)
        self.counters.add(delivered=len(parsed), pending=-len(parsed))
        return rejected

    def _failed(self, parsed: list[Delivery], why: str) -> list[Rejected]:
        """Raise TargetUnavailable (the batch is tried again), unless every record of it is past
        give_up_after_s: then they are given up (their messages may still reach the broker)."""
        self.counters.add(retried=1)
        now = time.time()
        if not parsed or any(now - d.spooled_at < self.cfg.give_up_after_s for d in parsed):
            raise TargetUnavailable(why)
        out = []
        for d in parsed:
            bad = give_up(d, self.cfg, self.counters, self.where, why, now=now)
            if bad is not None:
                out.append(bad)
            for k in [k for k in self._inflight if k[0] == d.event_id]:
                self._inflight.pop(k, None)
        return out

    def metrics(self) -> dict:
        return {**self.counters.as_dict(), "connected": int(self._connected)}

    def close(self) -> None:
        """Say "offline" (retained) and disconnect, so Home Assistant marks the cameras unavailable."""
        self._closing = True
        try:
            if self._connected:
                info = self.client.publish(self._status, ha.OFFLINE, qos=1, retain=True)
                info.wait_for_publish(2.0)
        except (RuntimeError, ValueError):
            pass
        finally:
            self.client.disconnect()
            self.client.loop_stop()


class MqttSink(DeliverySink):
    """The Sink of the MQTT broker (named ``mqtt`` in status and metrics)."""

    def __init__(self, cfg: MqttSinkConfig, spool_dir: str | Path, *, cameras: Iterable[str] = (),
                 lists: Iterable[ha.ListSpec] = (), fsync: bool = True,
                 lists_source: Callable[[], list[ha.ListSpec]] | None = None) -> None:
        password = None
        if cfg.password_env or cfg.password_file:
            password = read_secret(cfg.password_env, cfg.password_file).decode("utf-8")
        counters = DeliveryCounters()
        self.target = MqttTarget(cfg, counters, cameras=cameras, lists=lists, password=password,
                                 lists_source=lists_source)
        try:
            super().__init__("mqtt", cfg, self.target, counters, spool_dir, batch_size=cfg.batch_size,
                             fsync=fsync, label="MQTT sink", logger=log)
        except BaseException:
            self.target.close()
            raise
