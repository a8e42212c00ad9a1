"""Signals only record themselves while the daemon runs, and the previous handlers come back."""
from __future__ import annotations

import os
import signal
import threading

from alprd.process import signals


def test_a_signal_is_recorded_not_acted_on_and_the_old_handler_returns():
    before = signal.getsignal(signal.SIGHUP)
    inbox: list[int] = []
    with signals.recorded(inbox):
        os.kill(os.getpid(), signal.SIGHUP)  # would end the test process with the default handler
        assert inbox == [signal.SIGHUP]
    assert signal.getsignal(signal.SIGHUP) is before


def test_off_the_main_thread_nothing_is_installed():
    seen = []

    def body():
        with signals.recorded([]):
            seen.append(signal.getsignal(signal.SIGTERM))

    before = signal.getsignal(signal.SIGTERM)
    t = threading.Thread(target=body)
    t.start()
    t.join(10)
    assert seen == [before]


def test_signals_after_the_first_are_still_seen_once_drained():
    """The daemon once rebound its inbox to a new list when it acted on a signal: every later
    signal went to the old list, so a second SIGHUP and then SIGTERM were never acted on."""
    inbox: list[int] = []
    with signals.recorded(inbox):
        os.kill(os.getpid(), signal.SIGHUP)
        assert signals.drain(inbox) == [signal.SIGHUP]
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGHUP)
        assert signals.drain(inbox) == [signal.SIGTERM, signal.SIGHUP]
        assert signals.drain(inbox) == []
