"""The Prometheus endpoint: http://metrics.bind:metrics.port/metrics (loopback by default).

The counters live where the work happens — decoder processes write theirs into shared arrays
(DecoderStats), the worker reports per batch, the main process counts frames, tracks, events and
sink backlogs — and the main process already gathers all of them into one snapshot for
stats.json. ``SnapshotCollector`` turns that same snapshot into metric families at scrape time, so
no multiprocess registry (and no per-process .db files) is needed, and `alprd status` and
Prometheus can never disagree about what a figure means.

Metric names (all prefixed ``alprd_``) are listed in docs/service.md.
"""
from __future__ import annotations

import logging
from typing import Callable

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

_CAMERA_COUNTERS = (  # stats.json cameras.<id>.<key> -> metric, help
    ("received", "frames_received", "Frame descriptors received from the camera's decoder"),
    ("processed", "frames_processed", "Frames the inference worker processed"),
    ("reads", "plate_reads", "Plate reads (detections with text) in processed frames"),
)
_DROP_REASONS = ("dropped", "stale", "lost")
_DELIVERY_OUTCOMES = ("delivered", "retried", "given_up", "refused")
_DECODER_COUNTERS = (
    ("decoded", "frames_decoded", "Frames decoded from the stream"),
    ("sampled", "frames_sampled", "Frames sampled to the configured fps and written to the ring"),
    ("dropped", "ring_overwrites", "Frames overwritten in the ring before anyone read them"),
    ("reconnects", "camera_reconnects", "Reconnects of the camera's stream"),
    ("errors", "camera_errors", "Open/read errors of the camera's stream"),
    ("clock_resyncs", "camera_clock_resyncs", "Times the stream's clock went back and sampling resynchronised"),
    ("clock_skipped", "camera_clock_skipped_frames", "Frames not sampled because their time did not move forward"),
    ("oversized", "camera_oversized_refusals", "Connections refused for frames above max_frame_pixels"),
)


def _hist(name: str, doc: str, h: dict) -> HistogramMetricFamily:
    buckets = [(("+Inf" if le == "+Inf" else repr(float(le))), float(n)) for le, n in h["buckets"]]
    return HistogramMetricFamily(name, doc, buckets=buckets, sum_value=float(h["sum"]))


def families(s: dict) -> list:
    """Metric families of one stats snapshot (see Daemon.stats / runstats.snapshot)."""
    out = []

    def gauge(name, doc, labels=()):
        f = GaugeMetricFamily(f"alprd_{name}", doc, labels=list(labels))
        out.append(f)
        return f

    def counter(name, doc, labels=()):
        f = CounterMetricFamily(f"alprd_{name}", doc, labels=list(labels))
        out.append(f)
        return f

    g = gauge("up", "1 while the daemon runs; state is starting, running, stopping", ["state"])
    g.add_metric([s.get("state", "running")], 1.0)
    gauge("uptime_seconds", "Seconds since the daemon started").add_metric([], s["uptime_s"])
    gauge("healthy", "1 while the daemon is healthy (watchdog pings are sent only then)").add_metric(
        [], 1.0 if s.get("healthy", True) else 0.0)

    cams = s.get("cameras", {})
    decs = s.get("decoders", {})
    conn = gauge("camera_connected", "1 while the camera's stream is open", ["camera"])
    fps = gauge("camera_processed_fps", "Frames per second processed recently", ["camera"])
    waiting = gauge("frames_waiting", "Frames waiting in the main process for the worker (queue depth)", ["camera"])
    tracks = gauge("tracks_open", "Open tracks", ["camera"])
    for cid, d in decs.items():
        conn.add_metric([cid], float(d.get("connected", 0)))
    for cid, c in cams.items():
        fps.add_metric([cid], float(c.get("fps", 0.0)))
        waiting.add_metric([cid], float(c.get("waiting", 0)))
        tracks.add_metric([cid], float(c.get("open_tracks", 0)))
    for key, name, doc in _DECODER_COUNTERS:
        f = counter(name, doc, ["camera"])
        for cid, d in decs.items():
            f.add_metric([cid], float(d.get(key, 0)))
    for key, name, doc in _CAMERA_COUNTERS:
        f = counter(name, doc, ["camera"])
        for cid, c in cams.items():
            f.add_metric([cid], float(c.get(key, 0)))
    f = counter("frames_dropped", "Frames not processed: dropped (inference behind), stale "
                "(overwritten before the worker read it), lost (in flight when the worker died)",
                ["camera", "reason"])
    for cid, c in cams.items():
        for reason in _DROP_REASONS:
            f.add_metric([cid, reason], float(c.get(reason, 0)))
    f = counter("events", "Events emitted", ["camera", "kind"])
    for cid, c in cams.items():
        for kind, n in c.get("events", {}).items():
            f.add_metric([cid, kind], float(n))

    gauge("frames_in_flight", "Frames handed to the inference worker and not yet answered").add_metric(
        [], float(s.get("in_flight", 0)))
    counter("inference_batches", "Batches inferred").add_metric([], float(s.get("batches", 0)))
    if "batch_latency_s" in s:
        out.append(_hist("alprd_inference_batch_seconds", "Inference time per batch", s["batch_latency_s"]))
    if "batch_size" in s:
        out.append(_hist("alprd_inference_batch_size", "Frames per inferred batch", s["batch_size"]))
    f = counter("child_restarts", "Restarts of a child process", ["child"])
    for name, n in s.get("restarts", {}).items():
        f.add_metric([name], float(n))

    sinks = s.get("sinks", {})
    ev = counter("sink_events", "Events per sink: published, failed, dropped (queue full)", ["sink", "outcome"])
    queued = gauge("sink_queue", "Events accepted by the fan-out, not yet taken by the sink", ["sink"])
    lag = gauge("sink_lag_seconds", "Age of the oldest event not yet delivered by the sink "
                "(fan-out queue, and for the SQL sink its spool)", ["sink"])
    spool = gauge("spool_bytes", "Bytes in the sink's on-disk spool not yet written to its target", ["sink"])
    avail = gauge("sink_available", "1 while the sink's target accepts writes", ["sink"])
    for name, d in sinks.items():
        for outcome in ("published", "failed", "dropped"):
            ev.add_metric([name, outcome], float(d.get(outcome, 0)))
        queued.add_metric([name], float(d.get("queued", 0)))
        lag.add_metric([name], float(d.get("lag_s", 0.0)))
        if "spool_bytes" in d:
            spool.add_metric([name], float(d["spool_bytes"]))
        if "available" in d:
            avail.add_metric([name], float(d["available"]))
    deliveries = counter("delivery_events", "Webhook targets and MQTT: events delivered, retried "
                         "(failed tries), given_up (failing longer than give_up_after_s), refused "
                         "(the receiver refused the payload)", ["sink", "outcome"])
    pending = gauge("delivery_pending", "Events spooled for a webhook target or MQTT, not yet delivered", ["sink"])
    for name, d in sinks.items():
        if "delivered" not in d:
            continue
        for outcome in _DELIVERY_OUTCOMES:
            deliveries.add_metric([name, outcome], float(d.get(outcome, 0)))
        pending.add_metric([name], float(d.get("pending", 0)))

    crops = s.get("crops", {})
    f = counter("crops", "Crop JPEGs: saved, failed (disk errors), removed (retention)", ["outcome"])
    for outcome in ("saved", "failed", "removed"):
        f.add_metric([outcome], float(crops.get(outcome, 0)))
    gauge("crops_bytes", "Bytes of crop JPEGs on disk").add_metric([], float(crops.get("bytes", 0)))
    gauge("crops_files", "Crop JPEG files on disk").add_metric([], float(crops.get("files", 0)))
    parking = s.get("parking") or {}
    if parking:
        occ = gauge("parking_occupancy", "Vehicles inside: open visits per site", ["site"])
        for site, n in (parking.get("occupancy") or {}).items():
            occ.add_metric([site], float(n))
        f = counter("parking_events", "Events derived by the parking stage", ["kind"])
        for kind, n in (parking.get("events") or {}).items():
            f.add_metric([kind], float(n))
        f = gauge("parking_list_entries", "Plates per plate list loaded by the daemon", ["list"])
        for name, n in (parking.get("lists") or {}).items():
            f.add_metric([name], float(n))
    f = counter("config_reloads", "SIGHUP reloads", ["result"])
    for result, n in s.get("reloads", {}).items():
        f.add_metric([result], float(n))
    return out


class SnapshotCollector(Collector):
    def __init__(self, snapshot: Callable[[], dict]) -> None:
        self.snapshot = snapshot

    def collect(self):
        for attempt in range(3):  # the main loop may change a dict under us (a reload)
            try:
                return families(self.snapshot())
            except RuntimeError:
                if attempt == 2:
                    raise
        return []


class MetricsServer:
    """prometheus_client's HTTP server on a private registry (no default process metrics of the
    test runner or of other libraries leak in; the process collector of this process is added)."""

    def __init__(self, snapshot: Callable[[], dict], bind: str = "127.0.0.1", port: int = 9108) -> None:
        from prometheus_client import ProcessCollector

        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(SnapshotCollector(snapshot))
        ProcessCollector(namespace="alprd", registry=self.registry)
        self.bind, self.port = bind, port
        self._server = None
        self._thread = None

    @property
    def url(self) -> str | None:
        if self._server is None:
            return None
        host = self.bind if ":" not in self.bind else f"[{self.bind}]"
        return f"http://{host}:{self.port}/metrics"

    def start(self) -> bool:
        """Serve; False (and an error logged) when the address cannot be bound: the daemon
        runs on without metrics (stats.json and `alprd status` still work)."""
        from prometheus_client import start_http_server

        try:
            self._server, self._thread = start_http_server(self.port, addr=self.bind, registry=self.registry)
        except OSError as exc:
            log.error("metrics: cannot listen on %s:%d (%s); running without the metrics endpoint",
                      self.bind, self.port, exc.strerror or exc)
            return False
        self.port = self._server.server_port  # port 0 picks a free one
        log.info("metrics on %s", self.url)
        if not (self.bind in ("localhost", "::1") or self.bind.startswith("127.")):
            log.warning("metrics: %s is reachable from other hosts without authentication; keep it "
                        "behind a firewall or bind 127.0.0.1", self.url)
        return True

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
