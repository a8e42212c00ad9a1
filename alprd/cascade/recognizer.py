"""The batched SLPNet cascade: frames in, plate reads out.

detect (DSNet on a letterboxed view) → corners back to frame pixels → perspective warp out of the
full-resolution frame → read every plate of the batch in one RSNet call → CTC greedy decode (a
read that fits no plate layout replaced by the best one that does: alprd.model.plate_format) → a
doubtful read read again from wider warps of its quad, the most confident kept (alprd.model.rewarp),
then from its region with a motion smear undone (alprd.model.unsmear), and, for a plate the first
pass saw small in a shrunk frame, from a closer look's corners (alprd.cascade.refine).
Low-contrast plates are stretched before RSNet (alprd.cascade.photometric).

The steps around the nets run on one of two paths, chosen by ``prepost``: ``host`` (HostPath,
numpy/OpenCV, for CPU backends) or ``device`` (DevicePath, torch ops on the model's device);
``auto`` picks ``device`` exactly when the backend runs on CUDA. Both paths share this class's
NMS, decoding and rereads, so they differ only in where pixels are moved.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from alprd.backends import prepost as pp
from alprd.cascade.device import DevicePath
from alprd.cascade.frames import as_bgr, crop_jpeg
from alprd.cascade.host import HostPath
from alprd.cascade.photometric import MIN_RANGE, stretch_low_contrast
from alprd.cascade.refine import RefinePolicy, Refiner
from alprd.cascade.reportable import READ_THRESHOLD, reportable, reportable_text
from alprd.cascade.settled import RECHECK_EVERY, SettledJunk
from alprd.cascade.confirmed import ConfirmedPlaces
from alprd.cascade import zoom
from alprd.cascade.zoom import SecondLook, ZoomPolicy
from alprd.events import PlateRead, as_corners
from alprd.model import geometry, rewarp, unsmear as unsmearing
from alprd.model.two_row import reread as reread_two_row
from alprd.model.defaults import DET_THRESHOLD, NMS_THRESHOLD
from alprd.model.province_prior import ProvincePrior
from alprd.model.weights import build_models

log = logging.getLogger(__name__)

PATHS = {"host": HostPath, "device": DevicePath}


class Recognizer:
    """Not thread-safe: one caller at a time (its batch buffers are reused between calls)."""

    def __init__(self, weights: str | None = None, device: str = "auto", det_size: int = 512,
                 det_threshold: float = DET_THRESHOLD, nms_threshold: float = NMS_THRESHOLD, z: float = geometry.Z_DEFAULT,
                 crops: bool = False, threads: int = 0, backend: str = "auto", prepost: str = "auto",
                 plate_format: bool = True, reread: bool = True, two_row: bool = True, zoom: ZoomPolicy = ZoomPolicy(),
                 read_threshold: float = READ_THRESHOLD, all_candidates: bool | None = None,
                 provinces: ProvincePrior | None = None, refine: RefinePolicy = RefinePolicy(),
                 stretch_below: float = MIN_RANGE, unsmear: bool = True, junk_recheck: int = RECHECK_EVERY,
                 alternate: bool = True):
        if det_size % 32:
            raise ValueError(f"det_size must be a multiple of 32, got {det_size}")
        if prepost not in ("auto", *PATHS):
            raise ValueError(f"prepost must be auto, host or device, got {prepost!r}")
        if threads:
            import torch

            torch.set_num_threads(threads)
        dsnet, rsnet, self.meta = build_models(weights)
        self.trained = bool(self.meta.get("trained"))
        self.det_size = det_size
        self.det_threshold = det_threshold
        self.nms_threshold = nms_threshold
        self.z = z
        self.crops = crops
        self.plate_format = plate_format
        self.reread = reread
        self.unsmear = unsmear       # doubtful reads read again with a motion smear undone
        self._unsmear_warper = pp.PlateWarper()
        self.two_row = two_row       # yellow, narrow quads also read as two-row plates
        from alprd.backends.select import make_backend

        self.backend = make_backend(backend, dsnet, rsnet, device, det_size, threads)
        if prepost == "auto":
            prepost = "device" if getattr(self.backend, "cuda", False) else "host"
        self.path = PATHS[prepost](self.backend, det_size, stretch_below)
        self.stretch_below = stretch_below   # low-contrast plates stretched first (alprd.cascade.photometric)
        self.look = SecondLook(zoom)     # distant plates in large frames (alprd.cascade.zoom)
        self.refiner = Refiner(refine)   # doubtful small plates' corners (alprd.cascade.refine)
        self.junk = SettledJunk(junk_recheck)   # a stream's still junk boxes read once (alprd.cascade.settled)
        # a stream's plates just read confidently get their extra looks every other frame
        # (alprd.cascade.confirmed)
        self.confirmed = ConfirmedPlaces(alternate)
        # recognize() reports valid, confident reads only (alprd.cascade.reportable) unless
        # all_candidates; None: all of them only for untrained or rigged (test) weights, whose
        # reads no threshold chosen on trained weights' confidences applies to
        self.read_threshold = read_threshold
        if all_candidates is None:
            all_candidates = not self.trained or bool(self.meta.get("rigged"))
        self.all_candidates = all_candidates
        self.provinces = provinces if provinces else None   # a site's province prior

    @property
    def prepost(self) -> str:
        """The path the steps around the nets run on: "host" or "device"."""
        return self.path.name

    # ------------------------------------------------------------------ stages
    def detect(self, frames: Sequence[np.ndarray], streams: Sequence | None = None
               ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per frame: (corners K×4×2 in frame pixels, confidences K), after NMS. `streams` names
        each frame's stream (camera): the second look (alprd.cascade.zoom) takes its tiles of a
        stream's frames in turn and follows what it found; without streams every frame is a
        still and gets all its tiles."""
        if not len(frames):
            return []
        try:
            return self._detect([as_bgr(f) for f in frames], streams)
        finally:
            self.path.release()          # only recognize() warps them: free the device copies

    def read(self, plates_bgr: Sequence[np.ndarray] | np.ndarray) -> list[tuple[str, tuple[float, ...]]]:
        """Rectified plate crops (48×144 BGR, a list or an N×48×144×3 uint8 array) → (text,
        per-char confidences) each."""
        if not len(plates_bgr):
            return []
        batch = np.array(plates_bgr, np.uint8)        # a copy: the caller's crops stay as they were
        return self._decode(self.backend.read_u8(stretch_low_contrast(batch, self.stretch_below)))

    def read_at(self, frames: Sequence[np.ndarray], plates: Sequence[tuple[int, np.ndarray]]) -> list[tuple[str, tuple[float, ...]]]:
        """Plates given by (frame index, 4×2 corners in frame pixels, TL TR BR BL) → (text,
        per-char confidences) each: warped out of the frames and read as recognize() reads
        the detector's plates (a doubtful read read again from wider warps, when reread is on)."""
        frames = [as_bgr(f) for f in frames]
        self.path.hold(frames)
        return self._read_at(frames, list(plates))[0]

    # ------------------------------------------------------------------ cascade
    def recognize(self, frames: Sequence[np.ndarray], streams: Sequence | None = None) -> list[list[PlateRead]]:
        """Per frame its reads; `streams` as in detect()."""
        frames = [as_bgr(f) for f in frames]
        if not frames:
            return []
        try:
            detections = self._detect(frames, streams)    # the device path keeps the frames for the warps
        except BaseException:
            self.path.release()
            raise
        plates = [(i, c) for i, (corners, _) in enumerate(detections) for c in corners]
        settled = self.junk.settled(streams, plates)
        skip = self.confirmed.skip(streams, plates)
        texts, once = self._read_at(frames, plates, settled, skip)
        if self.reread and self.refiner.policy.enabled and plates:   # read each plate once without reread
            self._refine(frames, plates, texts, once)
        ok = [reportable_text(t, self.read_threshold) for t in texts]
        # junk is what stays unreportable after every extra look: a plate skipped at a confirmed
        # place (and at no junk box) was not looked at in full
        junk = [not r and (k not in skip or k in settled) for k, r in enumerate(ok)]
        self.junk.update(streams, plates, junk, {k: settled[k] for k in once if k in settled})
        self.confirmed.update(streams, plates, ok, once & skip)
        results: list[list[PlateRead]] = [[] for _ in frames]
        k = 0
        for i, (_, confs) in enumerate(detections):
            for conf in confs:
                c = plates[k][1]
                text, char_confs = texts[k]
                k += 1
                read = PlateRead(as_corners(c), float(conf), text, char_confs)
                if not self.all_candidates and not reportable(read, self.read_threshold):
                    continue
                if self.crops:
                    read = replace(read, crop_jpeg=crop_jpeg(frames[i], c))
                results[i].append(read)
        return results

    # ------------------------------------------------------------------ helpers
    def _detect(self, frames: list[np.ndarray], streams: Sequence | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
        firsts = self.path.candidates(frames, self.det_threshold, self.z)
        more = self.look(self.backend.detect_u8, lambda maps: pp.decode_batch(maps, self.det_threshold, self.z),
                         frames, streams, [lb.scale for _, _, lb in firsts])
        out = []
        for (corners, scores, lb), (c2, s2) in zip(firsts, more):
            keep = pp.nms_quads(corners, scores, self.nms_threshold)
            corners, scores = lb.to_frame(corners[keep]), scores[keep]
            new = zoom.apart(c2, corners)     # where the first pass found a plate, its box stands
            if new.any():
                c2, s2 = c2[new], s2[new]
                k2 = pp.nms_quads(c2, s2, self.nms_threshold)
                corners, scores = np.concatenate((corners, c2[k2])), np.concatenate((scores, s2[k2]))
            out.append((corners, scores))
        return out

    def _decode(self, logits: np.ndarray) -> list[tuple[str, tuple[float, ...]]]:
        if self.provinces is not None:
            logits = self.provinces.apply(logits)
        return pp.read_plates(logits, self.plate_format)

    def _read_at(self, frames, plates, settled: dict[int, int] | None = None, skip: set[int] = frozenset()
                 ) -> tuple[list[tuple[str, tuple[float, ...]]], set[int]]:
        """Reads of the plates, and which were read once only: plates at a stream's settled junk
        box (`settled`, alprd.cascade.settled) whose first read is not reportable, and the plates
        in `skip` (alprd.cascade.confirmed), get no extra look."""
        try:
            texts = self._read_quads(frames, plates)
            once = {k for k in settled or () if not reportable_text(texts[k], self.read_threshold)} | set(skip)
            if self.reread:
                self._reread(frames, plates, texts, once)
            if self.reread and self.unsmear:      # reread off: one read per plate, none deconvolved
                self._unsmear(frames, plates, texts, once)
            more = [k for k in range(len(plates)) if k not in once]
            if self.two_row and more:
                got = reread_two_row(frames, [plates[k][1] for k in more], [plates[k][0] for k in more],
                                     [texts[k] for k in more], self.read)[0]
                for k, read in zip(more, got):
                    texts[k] = read
            return texts, once
        finally:
            self.path.release()   # free the device copies of the frames

    def _read_quads(self, frames, plates: list[tuple[int, np.ndarray]]) -> list[tuple[str, tuple[float, ...]]]:
        """(frame index, corners) → reads, in one RSNet call."""
        if not plates:
            return []
        return self._decode(self.path.plate_logits(frames, plates))

    def _refine(self, frames, plates, texts, once: set[int]) -> None:
        """Doubtful reads of plates small in the first pass's view (in place, corners too) → the
        more confident of them and the read from a closer look's corners (alprd.cascade.refine)."""
        scales = [geometry.fit(f.shape[1], f.shape[0], self.det_size)[0] for f in frames]
        again = [k for k in rewarp.doubtful(texts) if k not in once
                 and self.refiner.wanted(plates[k][1], scales[plates[k][0]], not reportable_text(texts[k], self.read_threshold))]
        if not again:
            return
        t = self.refiner.policy.threshold
        found = self.refiner(self.backend.detect_u8, lambda maps: pp.decode_batch(maps, t, self.z), frames,
                             [plates[k] for k in again])
        better = [(k, q) for k, q in zip(again, found) if q is not None]
        if not better:
            return
        self.path.hold(frames)
        reads = self._read_at(frames, [(plates[k][0], q) for k, q in better])[0]
        for (k, q), read in zip(better, reads):
            if rewarp.mean_confidence(read) > rewarp.mean_confidence(texts[k]):
                plates[k], texts[k] = (plates[k][0], q), read

    def _reread(self, frames, plates, texts, once: set[int]) -> None:
        """Doubtful reads (in place) → the most confident of them and their wider warps'."""
        again = [k for k in rewarp.doubtful(texts) if k not in once]
        if not again:
            return
        m = len(rewarp.MARGINS)
        more = [(plates[k][0], q) for k in again for q in rewarp.grow(plates[k][1])]
        reads = self._read_quads(frames, more)
        for n, k in enumerate(again):
            texts[k] = rewarp.most_confident([texts[k]] + reads[n * m:(n + 1) * m])

    def _unsmear(self, frames, plates, texts, once: set[int]) -> None:
        """Doubtful reads (in place) → the best read of their regions with a motion smear undone,
        when it is better (alprd.model.unsmear)."""
        again = [k for k in rewarp.doubtful(texts) if k not in once]
        if not again:
            return
        better = unsmearing.reread([frames[plates[k][0]] for k in again], [plates[k][1] for k in again],
                                   [texts[k] for k in again], self._read_images)
        for k, read in zip(again, better):
            texts[k] = read

    def _read_images(self, items: list[tuple[np.ndarray, np.ndarray]]) -> list[tuple[str, tuple[float, ...]]]:
        """(image, corners) pairs → reads: warped on the host, read in one RSNet call."""
        if not items:
            return []
        return self.read(self._unsmear_warper([img for img, _ in items], [(n, q) for n, (_, q) in enumerate(items)]))
