"""Tiny child-process bodies for the supervisor tests (module level, so `spawn` can import them)."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from alprd.messages import Ready
from alprd.process.child import FatalChildError

log = logging.getLogger("alprd.test.bodies")


@dataclass(frozen=True)
class Ping:
    """The echo body's message kinds (a test protocol, as alprd.messages is the daemon's)."""

    text: str


@dataclass(frozen=True)
class Pong:
    text: str


def until_stopped(channel, tag: str) -> int:
    log.info("started %s", tag)
    channel.send(Ready())
    channel.stop_event.wait(30)
    log.info("stopped %s", tag)
    return 0


def crash(channel, code: int = 1) -> int:
    log.info("crashing with %d", code)
    return code


def raise_error(channel) -> int:
    raise RuntimeError("boom in the child")


def fatal(channel) -> int:
    raise FatalChildError("weights file is missing")


def finish(channel) -> int:
    return 0


def ignore_stop(channel) -> int:
    channel.send(Ready())
    time.sleep(3600)  # longer than any test waits: only a kill ends it
    return 0


def echo(channel) -> int:
    channel.send(Ready())
    while not channel.stop_event.is_set():
        msg = channel.get(0.1)
        if isinstance(msg, Ping):
            channel.send(Pong(msg.text))
    return 0
