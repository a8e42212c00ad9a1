"""The shared-memory frame ring: one writer (a camera's decoder), readers anywhere on the host.

Everything about the shared memory lives in this module: segment naming, layout, create / attach /
unlink, and the resource-tracker workaround. Only a small picklable `FrameRef` crosses a queue.

Layout of one segment (one per camera, re-created under a new name when frames outgrow it):

    [ring header 64 B: magic, version, slots, slot_bytes]
    [slot headers: slots x 64 B: seq, read_seq, timestamp, h, w, c]
    [slot data: slots x slot_bytes, 64-byte aligned]

Consistency is a per-slot sequence lock. The writer sets `seq = -1`, copies the pixels, then
publishes `seq`. A reader checks `seq == ref.seq` before and after copying; anything else means
the slot was overwritten while it waited or while it copied, and the frame is discarded (counted
in `RingReader.stale`). A reader that got a frame stores `read_seq = seq`; when the writer reuses
a slot whose frame nobody read it counts a drop. The writer never waits for readers: the ring is
round-robin, so the slot it reuses always holds the oldest frame. (8-byte aligned stores are
atomic on the platforms we run on; a race can at worst count a delivered frame as dropped.)

Attaching processes must not let multiprocessing's resource tracker adopt the segment: on Python
< 3.13 it would unlink it (and warn) when the reader exits, under the writer's feet.
"""
from __future__ import annotations

import logging
import itertools
import os
import re
import sys
import threading
from dataclasses import dataclass
from multiprocessing import resource_tracker, shared_memory

import numpy as np

log = logging.getLogger(__name__)

PREFIX = "alprd_"
_MAGIC = 0x474E4952_44524C41  # "ALRDRING" little-endian
_VERSION = 1
_HEAD = np.dtype([("magic", "<u8"), ("version", "<u4"), ("slots", "<u4"), ("slot_bytes", "<u8")])
_SLOT = np.dtype({"names": ["seq", "read_seq", "timestamp", "h", "w", "c"],
                  "formats": ["<i8", "<i8", "<f8", "<u4", "<u4", "<u4"], "itemsize": 64})
_ALIGN = 64
_NAME_RE = re.compile(rf"^{PREFIX}(?P<cam>.+)_(?P<owner>\d+)_(?P<pid>\d+)_(?P<gen>\d+)$")
_attach_lock = threading.Lock()


@dataclass(frozen=True)
class FrameRef:
    """What crosses the queue instead of the pixels."""

    camera_id: str
    seq: int
    timestamp: float
    slot: int
    shape: tuple[int, ...]
    shm_name: str
    # The motion gate's verdict (alprd.stream.motion): "" no gate; "moved" or "due" (its minimum
    # rate) inferred; "still" nothing changed: not in the ring (slot -1), not inferred, it tells
    # the tracker the scene is as it was ("not looked at", not "not seen").
    gate: str = ""

    @property
    def unchanged(self) -> bool:
        return self.gate == "still"


_GENERATIONS = itertools.count(1)


def _align(n: int) -> int:
    return (n + _ALIGN - 1) // _ALIGN * _ALIGN


def _data_offset(slots: int) -> int:
    return _align(_HEAD.itemsize) + _align(slots * _SLOT.itemsize)


def segment_name(camera_id: str, generation: int, pid: int | None = None,
                 owner: int | None = None) -> str:
    """alprd_<camera>_<owner>_<pid>_<generation>: the writer's pid lets `remove_orphans` find dead
    writers' leftovers, the owner's (the writer's parent: the daemon that reads the ring) keeps one
    daemon from removing the rings another daemon on the host still reads (a file's decoder leaves
    its ring at the end on purpose). Camera ids are cut so the name stays short everywhere."""
    return f"{PREFIX}{_name_part(camera_id)}_{owner or os.getppid()}_{pid or os.getpid()}_{generation}"


def _name_part(camera_id: str) -> str:
    """The camera id as segment names carry it."""
    return re.sub(r"[^A-Za-z0-9_.-]", "-", camera_id)[:40]


def _attach(name: str) -> shared_memory.SharedMemory:
    """Open an existing segment without registering it with this process's resource tracker."""
    if sys.version_info >= (3, 13):
        return shared_memory.SharedMemory(name=name, track=False)
    with _attach_lock:
        register = resource_tracker.register

        def skip_ours(rname, rtype):  # other registrations (other threads) still go through
            if rtype != "shared_memory" or rname.lstrip("/") != name.lstrip("/"):
                register(rname, rtype)

        resource_tracker.register = skip_ours
        try:
            return shared_memory.SharedMemory(name=name)
        finally:
            resource_tracker.register = register


class _Segment:
    """A mapped ring segment with numpy views over its headers."""

    def __init__(self, shm: shared_memory.SharedMemory, owner: bool):
        self.shm, self.owner, self.name = shm, owner, shm.name.lstrip("/")
        head = np.ndarray((), _HEAD, buffer=shm.buf)
        if int(head["magic"]) != _MAGIC or int(head["version"]) != _VERSION:
            raise ValueError(f"{self.name} is not an alprd frame ring (version {_VERSION})")
        self.slots, self.slot_bytes = int(head["slots"]), int(head["slot_bytes"])
        self.hdr = np.ndarray((self.slots,), _SLOT, buffer=shm.buf, offset=_align(_HEAD.itemsize))
        self.base = _data_offset(self.slots)

    @classmethod
    def create(cls, name: str, slots: int, slot_bytes: int) -> "_Segment":
        slot_bytes = _align(slot_bytes)
        shm = shared_memory.SharedMemory(name=name, create=True, size=_data_offset(slots) + slots * slot_bytes)
        head = np.ndarray((), _HEAD, buffer=shm.buf)
        head["magic"], head["version"], head["slots"], head["slot_bytes"] = _MAGIC, _VERSION, slots, slot_bytes
        del head
        seg = cls(shm, owner=True)
        seg.hdr["seq"] = -1
        seg.hdr["read_seq"] = -1
        return seg

    def pixels(self, slot: int, shape: tuple[int, ...]) -> np.ndarray:
        return np.ndarray(shape, np.uint8, buffer=self.shm.buf, offset=self.base + slot * self.slot_bytes)

    def close(self) -> None:
        self.hdr = None  # numpy views must go before the mapping can be released
        try:
            self.shm.close()
        except BufferError:  # a caller still holds a view; the mapping goes when it does
            log.debug("segment %s still has views; leaving it mapped", self.name)


class FrameRing:
    """Writer side. `write()` never blocks; `dropped` counts frames overwritten before anyone read
    them (including frames whose descriptor was dropped from a full queue)."""

    def __init__(self, camera_id: str, slots: int = 8):
        if slots < 2:
            raise ValueError("a ring needs at least 2 slots")
        self.camera_id = camera_id
        self.slots = slots
        self.dropped = 0
        self.written = 0
        self._seg: _Segment | None = None
        self._generation = 0
        self._next_seq = 0

    @property
    def name(self) -> str | None:
        return self._seg.name if self._seg else None

    def write(self, frame: np.ndarray, timestamp: float, seq: int | None = None) -> FrameRef:
        """Copy `frame` (uint8, HxW or HxWxC) into the next slot and describe it."""
        if frame.dtype != np.uint8 or frame.ndim not in (2, 3):
            raise ValueError(f"frames are uint8 HxW[xC], got {frame.dtype} {frame.shape}")
        if seq is None:
            seq = self._next_seq
        if seq < 0:
            raise ValueError("seq must be >= 0")
        self._next_seq = seq + 1
        if self._seg is None or frame.nbytes > self._seg.slot_bytes:
            self._grow(frame.nbytes)
        seg = self._seg
        slot = self.written % self.slots
        hdr = seg.hdr[slot]  # a view: assignments go to shared memory
        if hdr["seq"] != hdr["read_seq"]:  # the oldest frame was never read
            self.dropped += 1
        hdr["seq"] = -1
        seg.pixels(slot, frame.shape)[...] = frame
        shape = tuple(int(d) for d in frame.shape)
        hdr["timestamp"] = timestamp
        hdr["h"], hdr["w"], hdr["c"] = shape[0], shape[1], shape[2] if len(shape) == 3 else 0
        hdr["seq"] = seq
        self.written += 1
        return FrameRef(self.camera_id, int(seq), float(timestamp), slot, shape, seg.name)

    def _grow(self, nbytes: int) -> None:
        """First frame, or a bigger resolution: a new segment under a new name. Unread frames of
        the old one are lost (counted) and readers find out from the refs' shm_name."""
        old = self._seg
        if old is not None:
            self.dropped += int(np.count_nonzero(old.hdr["seq"] != old.hdr["read_seq"]))
        self._generation = next(_GENERATIONS)  # process-wide: two rings of one camera never share a name
        self._seg = _Segment.create(segment_name(self.camera_id, self._generation), self.slots, nbytes)
        self.written = 0
        log.debug("%s: ring %s, %d slots of %d bytes", self.camera_id, self._seg.name, self.slots, nbytes)
        if old is not None:
            log.info("%s: frames grew to %d bytes; ring re-created as %s", self.camera_id, nbytes, self._seg.name)
            self._release(old)

    @staticmethod
    def _release(seg: _Segment) -> None:
        try:
            seg.shm.unlink()
        except FileNotFoundError:
            pass
        seg.close()

    def close(self) -> None:
        """Unmap and unlink: the writer owns the segment's name."""
        if self._seg is not None:
            self._release(self._seg)
            self._seg = None

    unlink = close

    def detach(self) -> None:
        """Unmap but leave the segment, and the frames in it, for readers still to come: the
        writer is going away (a file at its end) while its latest frames may wait for a reader
        (an inference worker being restarted). Once this process is gone the segment is an
        orphan: its owner removes it with remove_orphans() when nobody needs it any more."""
        if self._seg is not None:
            # created tracked: else this process's resource tracker would unlink it at exit
            resource_tracker.unregister(self._seg.shm._name, "shared_memory")
            self._seg.close()
            self._seg = None

    def __enter__(self) -> "FrameRing":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class RingReader:
    """Reader side, for any number of cameras: attaches to segments on first use and keeps them
    mapped; a camera's older segments are closed when its writer moves to a new one."""

    def __init__(self):
        self._segs: dict[str, _Segment] = {}
        self._by_camera: dict[str, str] = {}
        self.stale = 0  # refs whose frame was gone (overwritten, torn, or its ring unlinked)

    def read(self, ref: FrameRef) -> np.ndarray | None:
        """A private copy of the frame, or None if the writer has already reused the slot."""
        seg = self._segment(ref)
        if seg is None or not 0 <= ref.slot < seg.slots:
            self.stale += 1
            return None
        hdr = seg.hdr[ref.slot]
        nbytes = int(np.prod(ref.shape))
        if hdr["seq"] != ref.seq or nbytes > seg.slot_bytes:
            self.stale += 1
            return None
        frame = seg.pixels(ref.slot, ref.shape).copy()
        if hdr["seq"] != ref.seq:  # overwritten while we copied
            self.stale += 1
            return None
        hdr["read_seq"] = ref.seq
        return frame

    def _segment(self, ref: FrameRef) -> _Segment | None:
        seg = self._segs.get(ref.shm_name)
        if seg is not None:
            return seg
        try:
            seg = _Segment(_attach(ref.shm_name), owner=False)
        except (FileNotFoundError, ValueError) as exc:
            log.debug("cannot attach %s: %s", ref.shm_name, exc)
            return None
        previous = self._by_camera.get(ref.camera_id)
        if previous is not None and previous in self._segs:
            self._segs.pop(previous).close()
        self._segs[ref.shm_name] = seg
        self._by_camera[ref.camera_id] = ref.shm_name
        return seg

    def close(self) -> None:
        """Unmap everything; never unlinks (the writer owns the names)."""
        for seg in self._segs.values():
            seg.close()
        self._segs.clear()
        self._by_camera.clear()

    def __enter__(self) -> "RingReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def list_segments(shm_dir: str = "/dev/shm") -> list[str]:
    """Names of alprd ring segments present on this host (Linux)."""
    try:
        return sorted(n for n in os.listdir(shm_dir) if _NAME_RE.match(n))
    except FileNotFoundError:
        return []


def segment_fields(name: str) -> dict[str, str] | None:
    """camera (as names carry it), owner, pid and generation of a segment name; None if not ours."""
    m = _NAME_RE.match(name.lstrip("/"))
    return m.groupdict() if m else None


def segment_pid(name: str) -> int | None:
    """The writer's pid encoded in a segment name (None for names that are not ours)."""
    f = segment_fields(name)
    return int(f["pid"]) if f else None


def remove_orphans(shm_dir: str = "/dev/shm", camera: str | None = None,
                   owner: int | None = None) -> list[str]:
    """Unlink segments whose writer process is gone (a decoder that was killed cannot clean up;
    one at the end of its file leaves its ring on purpose), only `camera`'s if given, and only
    those of `owner` (default: this process, the daemon) or of an owner that is gone too: another
    daemon's ended rings may still hold frames it has not read. Safe to call at start-up and
    whenever the supervisor reaps a decoder. Returns what it removed."""
    removed = []
    owner = owner or os.getpid()
    cam = _name_part(camera) if camera is not None else None
    for name in list_segments(shm_dir):
        f = segment_fields(name)
        if _alive(int(f["pid"])) or (cam is not None and f["cam"] != cam):
            continue
        if int(f["owner"]) != owner and _alive(int(f["owner"])):
            continue
        try:
            os.unlink(os.path.join(shm_dir, name))
            removed.append(name)
        except OSError:
            pass
    if removed and camera is not None:
        # the daemon's normal clean-up after a decoder's file ended: nothing went wrong
        log.debug("unlinked the frame ring of %s after its decoder finished: %s", camera, ", ".join(removed))
    elif removed:
        log.info("unlinked %d frame ring(s) left by decoder(s) that were killed: %s",
                 len(removed), ", ".join(removed))
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
