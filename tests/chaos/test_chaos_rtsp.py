"""Chaos on the camera side: an RTSP server killed and restarted, another one frozen (SIGSTOP) past
the read timeout and then resumed, while a file camera goes on untouched.

The RTSP servers (tests/rtsp_server.py, GStreamer on loopback) serve videos of known plates
(tests/chaos/bursts.py) and start each new client session at the beginning of the file, so what
a camera shows across an outage depends on when the outage hits: a car cut by it may or may not
have been confirmed. For those cameras the expected plates are the tracks the daemon confirmed
(each plate.preview on the bus), and the check is that every one of them ends in exactly one
final, stored and published once, and that plates come through again after the recovery. The
control camera must show exactly the plates of its file.
"""
from __future__ import annotations

import time

import pytest
from bursts import burst_schedule, make_burst_video
from chaos_helpers import (DaemonProcess, Ledger, Subscriber, chaos_config, counts, events,
                           frames_accounted, free_port, no_tracebacks, sql_finals, stats, stop_daemon)
from rtsp_server import RtspServer, require_gst_rtsp

CONTROL_PLATES = 5


def test_rtsp_server_killed_and_restarted_and_a_stalled_stream(tmp_path, chaos_weights):
    require_gst_rtsp()
    live = make_burst_video(tmp_path / "live.mp4", burst_schedule(12, first_s=0.5, gap_s=3.0))
    control = make_burst_video(tmp_path / "ctl.mp4", burst_schedule(CONTROL_PLATES, first_s=1.5, gap_s=3.0))
    cut, stall = RtspServer(live).start(), RtspServer(live).start()
    port = free_port()
    state = tmp_path / "state"
    db = tmp_path / "events.db"
    cams = [{"id": "ctl", "url": str(control)}, {"id": "cut", "url": cut.url}, {"id": "stall", "url": stall.url}]
    # a read timeout longer than the silences between plates, shorter than the stall
    cfg = chaos_config(tmp_path / "alprd.yaml", cams, state_dir=state, weights=chaos_weights, bus_port=port,
                       sql_url=f"sqlite:///{db}", tracking={"max_unseen_s": 1.5},
                       defaults={"read_timeout_s": 5, "open_timeout_s": 3})
    sub = Subscriber(f"tcp://127.0.0.1:{port}")
    d = DaemonProcess(cfg, tmp_path)
    try:
        d.wait_for(lambda: sub.finals("cut") and sub.finals("stall"), 90, "a final from each RTSP camera")
        cut.stop()    # the camera reboots
        stall.pause()  # the camera hangs: connection open, no data
        t_fault = time.monotonic()
        before = {c: len(sub.events("plate.preview", c)) for c in ("cut", "stall")}
        d.wait_for(lambda: "stall: disconnected from" in d.stderr and "cut: disconnected from" in d.stderr,
                   30, "both cameras noticed")
        time.sleep(max(0.0, 7.0 - (time.monotonic() - t_fault)))
        cut.start()
        stall.resume()
        d.wait_for(lambda: all(len(sub.events("plate.preview", c)) > before[c] for c in before), 60,
                   "a plate from each RTSP camera after its recovery")
        d.wait_for(lambda: stats(state)["decoders"]["ctl"]["running"] == 0
                   and len(sub.events("plate.preview", "ctl")) == CONTROL_PLATES, 60, "the end of the control file")
        assert stop_daemon(d) == 0, d.stderr[-4000:]
    finally:
        d.close()
        sub.close()
        cut.stop()
        stall.stop()
    err = d.stderr
    no_tracebacks(err)
    s = stats(state)
    confirmed = counts(sub.events("plate.preview"))
    expected = {"ctl": CONTROL_PLATES, "cut": confirmed.get("cut", 0), "stall": confirmed.get("stall", 0)}
    ledger = Ledger("rtsp outage + stall", expected, sql_finals(f"sqlite:///{db}"), sub.finals(),
                    sub.events("plate.preview"), events(state / "events.jsonl", "plate.final"),
                    counted=s["events"]["plate.final"])
    ledger.check()
    for cam in ("cut", "stall"):
        assert len(sub.finals(cam)) > before[cam], f"{cam}: no plate after the recovery"
        assert s["decoders"][cam]["reconnects"] >= 1
        assert s["restarts"][f"decoder:{cam}"] == 0, "reconnecting is the source's job, not a restart"
    assert frames_accounted(s)
    assert "cut: disconnected from" in err and err.count("cut: connected to rtsp://") >= 2
    assert err.count("stall: connected to rtsp://") >= 2
    if confirmed.get("cut", 0) < 2 or confirmed.get("stall", 0) < 2:
        pytest.fail(f"too few plates to say anything: {confirmed}")
