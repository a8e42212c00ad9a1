"""The main process's message handling: a table from message type (alprd.messages) to handler,
and what a child's exit means. A message no handler takes raises UnknownMessage here, where it
arrives (alprd.messages.Handlers); the supervisor has already handled Log and Fatal.

A new message kind for the main process: its dataclass in alprd.messages, a method here, one
entry in the table.
"""
from __future__ import annotations

import logging
import time

from alprd.messages import FrameReady, Handlers, Ready, Results, WorkerReady
from alprd.process.supervisor import FATAL
from alprd.service.specs import WORKER, camera_of

log = logging.getLogger("alprd.service.daemon")


class MainHandlers:
    """Handlers of the daemon's messages and child changes; `d` is the Daemon they act on."""

    def __init__(self, d) -> None:
        self.d = d
        self.table = Handlers("the main process", {
            FrameReady: self.on_frame, Results: self.on_results, WorkerReady: self.on_worker_ready,
            Ready: self.on_ready})

    def on_message(self, child, msg: object) -> None:
        self.table(msg, child)

    # -- messages ------------------------------------------------------------------------------
    def on_frame(self, child, msg: FrameReady) -> None:
        d, ref = self.d, msg.ref
        if ref.unchanged:  # the motion gate's mark: the camera is alive, its scene unchanged
            if d.relay.unchanged(ref, time.monotonic()) and ref.camera_id in d.router.trackers:
                d.router.still(ref.camera_id, ref.timestamp, ref.seq)
            return
        if ref.gate == "moved" and ref.camera_id in d.router.trackers:
            d.router.moved(ref.camera_id, ref.timestamp)
        d.relay.received(ref, time.monotonic())

    def on_results(self, child, msg: Results) -> None:
        d = self.d
        d.health.progress(time.monotonic())
        d.relay.answered(msg.stats)
        d.counters.batch_done(msg.results, msg.stats)
        for result in msg.results:
            if result.camera_id in d.router.trackers:
                d.events.publish(d.router.update(result))
        if msg.results and not d.notify.ready_sent:
            log.info("frames are flowing")
            d.notify.frames_flowing(d.status_line())

    def on_ready(self, child, msg: Ready) -> None:
        """A child with nothing more to say than that it is up: the supervisor noted it."""

    def on_worker_ready(self, child, msg: WorkerReady) -> None:
        d = self.d
        if child.name != WORKER:
            raise ValueError(f"{child.name} sent {msg!r}: only the inference worker does")
        d.worker_ready = True
        d.relay.frames.credit = int(msg.max_batch or d.relay.frames.credit)
        d.health.worker_up()
        if not msg.trained:
            log.warning("the model weights are untrained: frames are processed but no plate is read")

    # -- child changes (alprd.process.supervisor.Change) ---------------------------------------
    def on_change(self, change) -> None:
        d, child = self.d, change.child
        if change.kind != "exited":
            return
        if child.name == WORKER:
            d.worker_ready = False
            d.health.worker_down(time.monotonic())
            d.relay.worker_lost()
            if child.state == FATAL:
                d.fatal = f"the inference worker failed: {child.fatal_message}"
                d.request_stop(d.fatal, code=1)
        elif (cid := camera_of(child.name)) is not None:
            d.relay.decoder_exited(cid, change.exitcode)
