"""sd_notify against a real daemon run: a real datagram socket as $NOTIFY_SOCKET receives
STATUS while the model loads, READY=1 once frames come back, WATCHDOG=1 pings every half
$WATCHDOG_USEC — and no pings while the inference worker is stuck (SIGSTOP: alive, holding
frames, not answering), until it moves again."""
from __future__ import annotations

import os
import signal

from helpers_daemon import DaemonProcess, children_named
from helpers_service import NotifySocket, service_config

WATCHDOG_S = 3.0  # WatchdogSec: pings every 1.5 s; a worker silent this long is stuck


def unhealthy_status(texts: list[str]) -> list[int]:
    """Indexes of the datagrams whose STATUS says the inference worker is stuck."""
    return [i for i, m in enumerate(texts)
            if any(line.startswith("STATUS=UNHEALTHY: the inference worker") for line in m.splitlines())]


def test_ready_status_and_watchdog_pings_stop_while_the_worker_is_stuck(tmp_path, svc_weights, loop_video):
    state = tmp_path / "state"
    cfg = service_config(tmp_path / "alprd.yaml", [{"id": "gate", "url": str(loop_video), "loop": True, "fps": 8}],
                         state_dir=state, weights=svc_weights, tracking={"max_unseen_s": 30.0})
    notify = NotifySocket(tmp_path / "notify.sock")
    d = DaemonProcess(cfg, tmp_path, extra_env={
        "NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": str(int(WATCHDOG_S * 1e6)),
        "INVOCATION_ID": "0123456789abcdef"})  # as systemd starts it: journald log format
    try:
        d.wait_for(lambda: notify.times_of("READY=1"), 90, "READY=1")
        texts = notify.texts()
        first_ready = next(i for i, m in enumerate(texts) if m.startswith("READY=1"))
        assert texts[0].startswith("STATUS=starting"), texts[:3]
        assert "cameras up" in texts[first_ready] and "fps" in texts[first_ready], texts[first_ready]
        d.wait_for(lambda: len(notify.times_of("WATCHDOG=1")) >= 3, 30, "three watchdog pings")

        [worker] = d.wait_for(lambda: children_named(d.proc.pid, "alprd: worker"), 10, "the worker pid")
        # a loaded machine may have had the worker late before: look only at what follows the stop
        sent, logged = len(notify.texts()), len(d.stderr)
        os.kill(worker, signal.SIGSTOP)
        try:
            d.wait_for(lambda: "unhealthy: the inference worker has not answered" in d.stderr[logged:], 60,
                       "the stall to be noticed")
            # The daemon says why in STATUS (every few ping intervals of its own loop). From its
            # first such STATUS on, while the worker stays stopped, it sends no ping: datagrams
            # arrive in the order they were sent, so this needs no clock. Two STATUS updates
            # apart, the daemon's loop has had several ping intervals to (wrongly) send one.
            d.wait_for(lambda: len(unhealthy_status(notify.texts()[sent:])) >= 2, 60, "two STATUS updates saying why")
            texts = notify.texts()[sent:]
            first = unhealthy_status(texts)[0]
            assert not [m for m in texts[first:] if "WATCHDOG=1" in m.splitlines()], texts[first:]
        finally:
            os.kill(worker, signal.SIGCONT)
        resumed = len(notify.texts())
        d.wait_for(lambda: any("WATCHDOG=1" in m.splitlines() for m in notify.texts()[resumed:]), 60, "pings again")
        assert "healthy again" in d.stderr
        d.signal(signal.SIGTERM)
        assert d.wait(60) == 0, d.stderr[-3000:]
    finally:
        d.close()
        notify.close()
    texts = notify.texts()
    # STOPPING=1 once, and after it nothing but watchdog pings (the loop pings while it drains;
    # how many depends on how long the stop takes on this machine)
    stops = [i for i, m in enumerate(texts) if "STOPPING=1" in m.splitlines()]
    assert len(stops) == 1 and all(m == "WATCHDOG=1" for m in texts[stops[0] + 1:]), texts[-3:]
    err = d.stderr
    assert "Traceback" not in err, err[-3000:]
    # under systemd ($INVOCATION_ID) lines carry journald priorities and no timestamps
    lines = [line for line in err.splitlines() if line]
    assert not [line for line in lines if line[:2] == "20"], lines[:5]  # no timestamps
    assert any(line.startswith("<6>alprd.service.daemon: running") for line in lines), lines[:10]
    assert any(line.startswith("<3>alprd.service.daemon: unhealthy") for line in lines)
