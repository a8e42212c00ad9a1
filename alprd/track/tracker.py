"""Per-camera tracker: turns a stream of FrameResults into plate.preview / plate.final events.

Pure apart from a debug log: time comes only from the frames' timestamps, so a recorded stream
replays to the same events, and the id counter starts where the caller says (no globals).

Life of a track: a read joins the open track it overlaps (IoU against the track's last box or its
velocity-predicted box, greedy, ≥ iou_threshold), else an open track left unmatched in that frame
whose latest or best read is the same whole plate (at least TEXT_MATCH_MIN characters: at a low
processed frame rate a fast plate moves more than its own width between frames), else it starts a
new track. A track is confirmed once it has min_hits reads; one ``plate.preview`` the first time a
confirmed track's vote confidence reaches preview_confidence; one ``plate.final`` once it has been
unseen for more than max_unseen_s (by a processed frame that did not see it, or by expire() while
the camera sends nothing), or on flush(). Tracks that never reached min_hits, or whose final
confidence is below min_final_confidence, end silently.

Crops: each event carries the JPEG of its track's best read in crop_jpeg (in-process only, never
serialised) and crop_path=None; storing it is the main process's business, not the tracker's.
"""
from __future__ import annotations

import logging

import numpy as np

from alprd.config import TrackingConfig
from alprd.events import Alternative, FrameResult, PlateEvent, utc_from_timestamp
from alprd.track.matching import as_boxes, greedy_match, iou_matrix
from alprd.track.track import Track
from alprd.track.vote import VoteResult

log = logging.getLogger(__name__)

# Shorter reads are fragments (a plate entering the frame) and do not match a track by text.
TEXT_MATCH_MIN = 6
# After frames were skipped, a track ends only once this many processed frames in a row missed it:
# one missed look after a gap (a distant plate the detector misses now and then) ended the track
# and the next frame's read began a second one: two finals for one vehicle.
MIN_MISSES_AFTER_GAP = 2


class Tracker:
    """Tracks the plates of one camera. Not thread-safe; one per camera in the main process."""

    def __init__(self, camera_id: str, cfg: TrackingConfig, id_start: int = 1,
                 inward: tuple[float, float] | None = None) -> None:
        self.camera_id = camera_id
        self.cfg = cfg
        self.inward = inward  # the camera's "in" direction in the image (events' travel), if any
        self.next_id = id_start
        self._tracks: dict[int, Track] = {}
        self._clock: float | None = None  # latest frame timestamp seen
        self._moved_at = float("inf")  # when the motion gate last saw the scene move
        self._last_seq: int | None = None  # the camera's last sampled frame this tracker heard of

    @property
    def open_tracks(self) -> int:
        return len(self._tracks)

    def update(self, result: FrameResult) -> list[PlateEvent]:
        """Fold one frame's reads in; return the events it caused (finals first, then previews)."""
        if result.camera_id != self.camera_id:
            raise ValueError(f"tracker for camera {self.camera_id!r} got a frame of {result.camera_id!r}")
        now = float(result.timestamp)
        events: list[PlateEvent] = []
        if self._clock is not None and now < self._clock - self.cfg.max_unseen_s:
            # The stream's clock jumped back (a looped file, a camera reset): the old tracks can
            # no longer age out against it, so end them now.
            log.debug("camera %s: clock went back %.1fs; closing %d tracks",
                      self.camera_id, self._clock - now, len(self._tracks))
            events += self._close_all()
            self._clock = None
        self._clock = now if self._clock is None else max(self._clock, now)
        now = self._clock  # small backward jitter is clamped so time never runs back in a track
        if result.seq is not None and self._last_seq is not None and result.seq > self._last_seq + 1:
            for t in self._tracks.values():   # frames were skipped: part of their unseen time was unlooked
                t.after_gap = True
        if self._follows(result.seq):
            # Nothing the camera sampled since the last frame was lost, so a track unseen for
            # longer than max_unseen_s really was out of sight in the gap (the camera sent no
            # frames): it ends before this frame's reads can join it. Frames that arrive in a rush
            # (a restarted worker, a loaded host) would otherwise glue two passes of one plate.
            events += self._expire(now)
        touched = self._associate(result, now)
        # Only a track this frame looked for and did not see can end here, and one whose unseen
        # time spans skipped frames only once MIN_MISSES_AFTER_GAP looks missed it: when frames
        # were skipped (an overloaded worker drops the oldest), a plate still in view continues its
        # track instead of ending it and starting a second one (two finals for one vehicle).
        seen_ids = {t.id for t in touched}
        for t in self._tracks.values():
            if t.id not in seen_ids:
                t.misses += 1
        events += self._expire(now, seen=touched)
        events += self._previews(touched)
        return events

    def moved(self, timestamp: float) -> None:
        """The motion gate let a frame through because the scene changed at `timestamp`."""
        self._moved_at = float(timestamp)

    def still(self, timestamp: float, seq: int | None = None) -> None:
        """A frame the motion gate found unchanged ("not looked at", not "not seen"). A track
        seen since the scene last moved cannot have left without moving it, so it stays seen even
        if the detector missed it on a frame inferred for the gate's minimum rate: a parked car is
        neither ended nor announced again. A track last seen before the last movement (a car
        that drove off) is not kept. Nothing ends or starts here."""
        self._follows(seq)
        if self._clock is None or timestamp <= self._clock:
            return  # older than what was already inferred: nothing to add
        self._clock = float(timestamp)
        for t in self._tracks.values():
            if t.last_seen >= self._moved_at:
                t.last_seen = self._clock

    def expire(self, now: float) -> list[PlateEvent]:
        """End tracks unseen for more than max_unseen_s at `now` (same clock as the frames).

        update() does this itself; call it only to age tracks out while a camera sends no frames.
        """
        self._clock = now if self._clock is None else max(self._clock, now)
        return self._expire(self._clock, by_frames=False)

    def flush(self, now: float | None = None) -> list[PlateEvent]:
        """End every open track (orderly shutdown). `now` only advances the clock if given."""
        if now is not None:
            self._clock = now if self._clock is None else max(self._clock, now)
        return self._close_all()

    # -- internals -----------------------------------------------------------------------------

    def _follows(self, seq: int | None) -> bool:
        """Note the camera's sampled-frame number; True when it comes right after the last one
        (no frame between was skipped by an overloaded worker or lost with a ring)."""
        follows = seq is not None and self._last_seq is not None and seq == self._last_seq + 1
        self._last_seq = seq
        return follows

    def _associate(self, result: FrameResult, now: float) -> list[Track]:
        reads = list(result.reads)
        if not reads:
            return []
        tracks = list(self._tracks.values())
        unmatched = list(range(len(reads)))
        touched: list[Track] = []
        if tracks:
            det = as_boxes([r.bbox for r in reads])
            last = as_boxes([t.last_box for t in tracks])
            pred = as_boxes([t.predicted_box(now) for t in tracks])
            overlap = np.maximum(iou_matrix(last, det), iou_matrix(pred, det))
            matches, free, unmatched = greedy_match(overlap, self.cfg.iou_threshold)
            for ti, ri in matches:
                tracks[ti].add(reads[ri], now)
                touched.append(tracks[ti])
            free_tracks = [tracks[ti] for ti in free]
            no_track = []
            for ri in unmatched:
                text = reads[ri].text
                same = [t for t in free_tracks if len(text) >= TEXT_MATCH_MIN and t.reads_as(text)]
                if not same:
                    no_track.append(ri)
                    continue
                t = max(same, key=lambda t: (t.last_seen, t.id))   # the most recently seen
                free_tracks.remove(t)
                t.add(reads[ri], now)
                touched.append(t)
            unmatched = no_track
        for ri in unmatched:
            track = Track(self.next_id, reads[ri], now, self.cfg.stationary_px)
            self.next_id += 1
            self._tracks[track.id] = track
            touched.append(track)
        return touched

    def _previews(self, touched: list[Track]) -> list[PlateEvent]:
        events = []
        for t in sorted(touched, key=lambda t: t.id):
            if t.preview_sent or t.hits < self.cfg.min_hits:
                continue
            vote = t.ballot.result(self.cfg.top_k)
            if vote.plate and vote.confidence >= self.cfg.preview_confidence:
                t.preview_sent = True
                events.append(self._event("plate.preview", t, vote))
        return events

    def _expire(self, now: float, seen: list[Track] = (), by_frames: bool = True) -> list[PlateEvent]:
        """End the tracks unseen for more than max_unseen_s; by_frames (processed frames decide,
        not a silent camera's clock): not those whose unseen time spans skipped frames and that
        fewer than MIN_MISSES_AFTER_GAP looks have missed."""
        seen_ids = {t.id for t in seen}
        ended = [t for t in self._tracks.values()
                 if t.id not in seen_ids and now - t.last_seen > self.cfg.max_unseen_s
                 and not (by_frames and t.after_gap and t.misses < MIN_MISSES_AFTER_GAP)]
        return self._close(ended)

    def _close_all(self) -> list[PlateEvent]:
        return self._close(list(self._tracks.values()))

    def _close(self, ended: list[Track]) -> list[PlateEvent]:
        events = []
        for t in sorted(ended, key=lambda t: t.id):
            del self._tracks[t.id]
            event = self._final(t)
            if event is not None:
                events.append(event)
        return events

    def _final(self, t: Track) -> PlateEvent | None:
        if t.hits < self.cfg.min_hits:
            log.debug("camera %s: track %d ended unconfirmed (%d hits)", self.camera_id, t.id, t.hits)
            return None
        vote = t.ballot.result(self.cfg.top_k)
        if not vote.plate or vote.confidence < self.cfg.min_final_confidence:
            log.debug("camera %s: track %d dropped, %r at confidence %.3f < %.3f", self.camera_id, t.id,
                      vote.plate, vote.confidence, self.cfg.min_final_confidence)
            return None
        return self._event("plate.final", t, vote)

    def _event(self, kind: str, t: Track, vote: VoteResult) -> PlateEvent:
        best = t.best_read
        return PlateEvent(
            kind=kind,
            camera_id=self.camera_id,
            track_id=t.id,
            plate=vote.plate,
            confidence=round(vote.confidence, 4),
            first_seen=utc_from_timestamp(t.first_seen),
            last_seen=utc_from_timestamp(t.last_seen),
            reads=t.hits,
            alternatives=tuple(Alternative(c.plate, round(c.score, 4)) for c in vote.alternatives),
            direction=t.direction(),
            travel=t.travel(self.inward),
            parked=t.is_parked(self.cfg.parked_after_s),
            corners=best.corners if best is not None else None,
            crop_jpeg=best.crop_jpeg if best is not None else None,
        )
