"""Chaos on the bus, issue 18 item 5: a local client floods the daemon's bus with distinct
subscriptions (as fast as one process can send them, from several connections) while plates
pass. The daemon's main process (which owns the bus socket) must stay within a bound of memory,
and the real subscriber must receive every final (the ledger: SQL = JSONL = bus, none twice).

Before the fix a plain PUB socket kept every subscription: 150,000 a second grew the daemon by
1.3 GB and stalled delivery for seconds.

Mid-flood a SIGHUP adds a camera: a subscriber to its topic alone, arriving after the reload,
gets its finals although the flood has taken every subscription slot the bus keeps for topics
it does not know (before, the bus's camera list stayed the one of the start: refused)."""
from __future__ import annotations

import signal
import time

import yaml

from benchmarks.hostile import SubscriptionFlooder
from bursts import burst_schedule, make_burst_video
from chaos_helpers import (DaemonProcess, Ledger, Subscriber, chaos_config, events, free_port,
                           no_tracebacks, sql_finals, stats)

PLATES = 6
LATE_PLATES = 2  # the camera a reload adds mid-flood
RSS_BOUND_MB = 150  # growth of the main process while flooded (before the fix: > 1000)


def _rss_mb(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def test_a_subscription_flood_neither_grows_the_daemon_nor_stalls_subscribers(tmp_path, chaos_weights):
    # gaps longer than tracking.max_unseen_s (1.5) on the stream's clock: one track per burst
    video = make_burst_video(tmp_path / "cam.mp4", burst_schedule(PLATES, first_s=1.0, gap_s=2.5))
    port = free_port()
    state = tmp_path / "state"
    db = tmp_path / "events.db"
    endpoint = f"tcp://127.0.0.1:{port}"
    cfg = chaos_config(tmp_path / "alprd.yaml", [{"id": "cam", "url": str(video)}], state_dir=state,
                       weights=chaos_weights, bus_port=port, sql_url=f"sqlite:///{db}",
                       tracking={"max_unseen_s": 1.5})
    late_video = make_burst_video(tmp_path / "late.mp4", burst_schedule(LATE_PLATES, first_s=4.0, gap_s=2.0))
    sub = Subscriber(endpoint)
    d = DaemonProcess(cfg, tmp_path)
    flooder = late_sub = None
    samples: list[float] = []
    try:
        d.wait_for(lambda: sub.finals("cam"), 120, "the first final")
        baseline = _rss_mb(d.proc.pid)
        flooder = SubscriptionFlooder(endpoint, 4, sndhwm=0)
        d.wait_for(lambda: "refusing subscriptions that match no topic" in d.stderr, 60, "the foreign slots full")
        data = yaml.safe_load(cfg.read_text())
        data["cameras"].append({"id": "late", "url": str(late_video)})
        cfg.write_text(yaml.safe_dump(data))
        d.signal(signal.SIGHUP)
        d.wait_for(lambda: "camera late added" in d.stderr, 60, "the reload")
        late_sub = Subscriber(endpoint, topic="plate.final.late")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and d.proc.poll() is None:
            samples.append(_rss_mb(d.proc.pid))
            decoders = stats(state)["decoders"]
            if all(decoders.get(c, {}).get("running", 1) == 0 for c in ("cam", "late")) and \
                    len(sub.finals("cam")) >= PLATES and len(sub.finals("late")) >= LATE_PLATES:
                break
            time.sleep(0.25)
        flood_s = len(samples) * 0.25
        assert flooder.alive(), "the flooder died"
        sent = flooder.close()
        code = d.wait(120)  # the file has ended: the daemon stops by itself
    finally:
        if flooder is not None:
            flooder.close()
        d.close()
        sub.close()
        if late_sub is not None:
            late_sub.close()
    assert code == 0, d.stderr[-4000:]
    no_tracebacks(d.stderr)
    s = stats(state)
    ledger = Ledger("subscription flood", {"cam": PLATES, "late": LATE_PLATES}, sql_finals(f"sqlite:///{db}"), sub.finals(),
                    sub.events("plate.preview"), events(state / "events.jsonl", "plate.final"),
                    counted=s["events"]["plate.final"])
    ledger.check()
    peak = max(samples)
    print(f"main process RSS: {baseline:.0f} MB before, peak {peak:.0f} MB over {flood_s:.0f} s of flood "
          f"({sent} subscriptions sent, {sent / flood_s:.0f}/s)")
    assert flood_s >= 5, "the flood was too short to say anything"
    assert peak - baseline < RSS_BOUND_MB, f"RSS grew {baseline:.0f} -> {peak:.0f} MB under the flood"
    assert "a client is flooding the bus" in d.stderr
    assert [e["event_id"] for e in late_sub.finals()] == [e["event_id"] for e in sub.finals("late")], \
        "the added camera's subscriber was refused"
