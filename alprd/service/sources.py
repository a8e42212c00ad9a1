"""Whether the camera sources that ended were read: what `alprd run` exits with once they all have.

A file source ends by itself, either at its end, its frames read, or because nothing could be
read from it (not a video, no video stream, every frame refused as oversized, a file removed
since the start). Its decoder exits 0 both ways; what tells them apart is whether it decoded a
single frame (its DecoderStats). A decoder that reported a fatal error has failed too. A live
camera never ends by itself: it is retried forever however long it is down, so it is never here.

Once every source has ended the daemon stops; it exits EXIT_SOURCES_FAILED when any of them gave
no frame, so a batch run or systemd sees a failure instead of a success that processed nothing.
The unit does not restart on it (RestartPreventExitStatus): a restart would read the same files.
"""
from __future__ import annotations

from typing import Iterable, Mapping

from alprd.process.supervisor import FATAL, FINISHED

EXIT_SOURCES_FAILED = 66  # sysexits.h EX_NOINPUT: "an input file did not exist or was not readable"


def ended(states: Iterable[str]) -> bool:
    """Every decoder is done by itself (at its end or failed); False for none."""
    states = list(states)
    return bool(states) and all(s in (FINISHED, FATAL) for s in states)


def unread(decoders: Mapping[str, str], decoded: Mapping[str, float]) -> list[str]:
    """The cameras, among `decoders` (camera id -> supervisor state of its ended decoder), that
    failed: a fatal error, or not one frame decoded (`decoded`: camera id -> frames)."""
    return sorted(cid for cid, state in decoders.items()
                  if state == FATAL or (state == FINISHED and not decoded.get(cid, 0)))


def stop_reason(cameras: int, failed: list[str]) -> tuple[str, int]:
    """(the reason the daemon logs, its exit code) once every one of `cameras` sources ended."""
    if not failed:
        return "every source has ended", 0
    return (f"every source has ended; no frame could be read from {len(failed)} of {cameras} "
            f"camera(s): {', '.join(failed)}", EXIT_SOURCES_FAILED)
