"""Every message that crosses a pipe between alprd's processes, as frozen dataclasses.

One module, so the protocol is read in one place. A receiver dispatches on the message's type
through a table (see ``Handlers``); a message of a type it has no handler for is a bug of ours
and raises ``UnknownMessage`` where it arrives, instead of being ignored (a renamed field or
kind used to leave frames "in flight" forever, with no error where the mistake was).

Who sends what:

    any child  → parent   Log (a LogRecord), Fatal (user-fixable: do not restart me), a Ready
    parent     → any child Stop
    decoder    → main     FrameReady (one per sampled frame: the descriptor of its ring slot)
    main       → worker   Frames (a batch of descriptors), Cameras (the camera list after a reload)
    worker     → main     WorkerReady (model loaded), Results (one per batch, with BatchStats)

A new message kind is a dataclass here, plus a handler in its receiver's table
(alprd.service.handlers for the main process, the body of the child that receives it).

Nothing of alprd is imported at run time (the types named in annotations only), so every layer
may use this module; pickling needs no imports here either.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:  # annotations only: this module sits below the layers that define them
    from alprd.config import CameraConfig
    from alprd.events import FrameResult
    from alprd.stream.ring import FrameRef


class UnknownMessage(TypeError):
    """A receiver got a message it has no handler for: a protocol bug, not bad input."""


# -- every child process (alprd.process) ---------------------------------------------------------


@dataclass(frozen=True)
class Stop:
    """Parent → child: finish what you hold and exit 0."""


@dataclass(frozen=True)
class Log:
    """Child → parent: a log record, re-emitted by the parent's logging."""

    record: logging.LogRecord


@dataclass(frozen=True)
class Fatal:
    """Child → parent: a user-fixable error (a missing weights file...): do not restart me."""

    message: str


@dataclass(frozen=True)
class Ready:
    """Child → parent: the body is ready; the supervisor's start_all waits for it (wait_ready).
    A child with more to say subclasses it (WorkerReady)."""


# -- decoder → main ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FrameReady:
    """A sampled frame is in its camera's ring, at ref.slot."""

    ref: FrameRef


# -- main ⇄ inference worker ---------------------------------------------------------------------


@dataclass(frozen=True)
class Frames:
    """Main → worker: descriptors to read out of their rings and infer (at most one batch)."""

    refs: tuple[FrameRef, ...]


@dataclass(frozen=True)
class Cameras:
    """Main → worker: the camera list after a reload (ROIs and polygons), before any frame of
    a new camera."""

    cameras: tuple[CameraConfig, ...]


@dataclass(frozen=True)
class WorkerReady(Ready):
    """Worker → main: the model is loaded."""

    device: str          # "<backend> on <device>"
    trained: bool        # False: untrained weights, nothing will be read
    max_batch: int       # the main process's credit: frames in flight at most


@dataclass(frozen=True)
class BatchStats:
    """What one batch cost and which descriptors it answers for."""

    batch: int                          # frames inferred
    stale: int                          # descriptors whose slot was overwritten before reading
    refs_by_camera: dict[str, int] = field(default_factory=dict)  # every descriptor answered for
    infer_s: float = 0.0
    filtered: int = 0                   # reads dropped by camera polygons (running total)

    @property
    def refs(self) -> int:
        return sum(self.refs_by_camera.values())


@dataclass(frozen=True)
class Results:
    """Worker → main: one FrameResult per inferred frame, and the accounting of the batch."""

    results: tuple[FrameResult, ...]
    stats: BatchStats


# -- receiving -----------------------------------------------------------------------------------

class Handlers:
    """A receiver's dispatch table: message type → handler. Exact types first, then base
    classes (a WorkerReady reaches a Ready handler); anything else raises UnknownMessage."""

    def __init__(self, receiver: str, table: dict[type, Callable[..., Any]]) -> None:
        self.receiver = receiver
        self.table = dict(table)

    def __call__(self, msg: object, *args: Any) -> Any:
        return self.handler(msg)(*args, msg)

    def handler(self, msg: object) -> Callable[..., Any]:
        for cls in type(msg).__mro__:
            h = self.table.get(cls)
            if h is not None:
                return h
        raise UnknownMessage(f"{self.receiver} got a message it has no handler for: {msg!r:.200}")
