"""Which reads are reported: a valid plate layout read with confidence, not every candidate box.

DSNet also boxes grilles, headlights, painted truck numbers and date/time overlays; RSNet then
reads something from them (闽WWW at 0.49, 3-6-character fragments). A read is reported only when
its text is a mainland plate layout (alprd.model.plate_format.is_valid_plate) and its weakest
character's confidence (PlateRead.text_conf) is at least READ_THRESHOLD; `alprd recognize --all`
and ``Recognizer(all_candidates=True)`` keep every candidate.

READ_THRESHOLD was chosen on dev data, on every read the served cascade gives (all candidates)
for CCPD dev and its stress variants (pipelines.stress; the large-frame ones with the second look)
and the real_scenes_cn street scenes: 1,125 reads, 698 right, 321 on no plate (28.5 %). Kept by a
valid layout and a weakest character of at least 0.35 / 0.45 / 0.5 / 0.6: right reads 695 / 695 /
693 / 691, junk 35 / 14 / 11 / 5 (4.3 / 1.8 / 1.5 / 0.7 % of what is reported). 0.45 is the
lowest under the 3 % the project allows with room to spare. ("On no plate" counts a read of an
unlabelled plate in a scene's background too: an upper bound.)
A date/time overlay reads as digits: it either fits no layout (no province, no letter) or needs a
forced province character, whose confidence is low.
"""
from __future__ import annotations

from alprd.events import PlateRead
from alprd.model.defaults import READ_THRESHOLD
from alprd.model.plate_format import is_valid_plate

__all__ = ["READ_THRESHOLD", "reportable"]


def reportable(read: PlateRead, threshold: float = READ_THRESHOLD) -> bool:
    return is_valid_plate(read.text) and read.text_conf >= threshold
