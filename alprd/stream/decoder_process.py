"""The decoder's process body: run_decoder (alprd.stream.decoder) with its FrameRefs sent to the
main process as FrameReady messages over the child's channel (alprd.process.child).

A gate that decides per frame before it crosses (a motion gate) belongs in run_decoder's loop,
in this process; what crosses is always a FrameReady (add fields there, not new tuples)."""
from __future__ import annotations

from alprd.messages import FrameReady


class _ChannelQueue:
    """The out_queue run_decoder expects, sending each FrameRef to the main process."""

    def __init__(self, channel) -> None:
        self.channel = channel

    def put_nowait(self, ref) -> None:
        self.channel.send(FrameReady(ref))  # never full: the main process reads continuously


def decoder_main(channel, *, camera, defaults, fps: float, stats, realtime: bool | None) -> int:
    from alprd.stream.decoder import run_decoder

    run_decoder(camera, defaults, fps, _ChannelQueue(channel), channel.stop_event, stats, realtime=realtime,
                keep_ring_at_end=True)  # its last frames may still wait for a (restarting) worker
    return 0
