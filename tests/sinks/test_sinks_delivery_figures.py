"""The webhook sink's figures reach Prometheus and `alprd status` (from a real sink's metrics(),
through the fan-out's status, into the same snapshot both read)."""
from __future__ import annotations

from pathlib import Path

from helpers_sinks import make_event
from http_receiver import Receiver
from prometheus_client import CollectorRegistry, generate_latest
from waiting import wait_until

from alprd.cli import status
from alprd.config import WebhookTargetConfig
from alprd.service.metrics import SnapshotCollector
from alprd.sinks.fanout import FanoutSink
from alprd.sinks.webhook import WebhookSink

SECRET = b"figures"


def _scrape(snapshot: dict) -> dict[str, float]:
    reg = CollectorRegistry(auto_describe=False)
    reg.register(SnapshotCollector(lambda: snapshot))
    out = {}
    for line in generate_latest(reg).decode().splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def _render(s: dict) -> str:
    """`alprd status`'s text for a snapshot (plain text, or rich's table where that is used)."""
    if hasattr(status, "render_text"):
        return status.render_text(s, Path("stats.json"))
    import io

    from rich.console import Console

    buf = io.StringIO()
    status.render(s, Path("stats.json"), console=Console(file=buf, width=250, color_system=None))
    return buf.getvalue()


def test_delivered_pending_retried_and_given_up_are_counted_and_shown(tmp_path):
    recv = Receiver(SECRET)  # down: the first event is retried, then given up
    cfg = WebhookTargetConfig(name="gate", url=recv.url, secret_env="X", retry_max_s=0.2, give_up_after_s=0.5)
    out = FanoutSink([WebhookSink(cfg, tmp_path / "spool", secret=SECRET, fsync=False)])
    try:
        out.publish(make_event("LOST11"))
        assert wait_until(lambda: out.status()["webhook:gate"]["given_up"] == 1)
        recv.start()
        out.publish(make_event("OK2222"))
        out.publish(make_event("OK3333"))
        assert wait_until(lambda: out.status()["webhook:gate"]["delivered"] == 2)
        sinks = out.status()
    finally:
        out.close(5)
        recv.stop()
    d = sinks["webhook:gate"]
    assert (d["delivered"], d["given_up"], d["pending"], d["refused"]) == (2, 1, 0, 0) and d["retried"] >= 1
    snapshot = {"uptime_s": 1.0, "sinks": sinks}
    m = _scrape(snapshot)
    assert m['alprd_delivery_events_total{outcome="delivered",sink="webhook:gate"}'] == 2
    assert m['alprd_delivery_events_total{outcome="given_up",sink="webhook:gate"}'] == 1
    assert m['alprd_delivery_events_total{outcome="retried",sink="webhook:gate"}'] >= 1
    assert m['alprd_delivery_pending{sink="webhook:gate"}'] == 0
    assert m['alprd_sink_available{sink="webhook:gate"}'] == 1
    text = _render({**snapshot, "running": True, "age_s": 0.1, "pid": 1})
    row = next(line for line in text.splitlines() if line.strip().startswith("webhook:gate"))
    assert "2 delivered, 0 pending" in row and "1 given up" in row
