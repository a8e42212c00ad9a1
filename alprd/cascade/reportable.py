"""Which reads are reported: a valid plate layout read with confidence, not every candidate box.

DSNet also boxes grilles, headlights, painted truck numbers and date/time overlays; RSNet then
reads something from them (闽WWW at 0.49, 3-6-character fragments). A read is reported only when
its text is a mainland plate layout (alprd.model.plate_format.is_valid_plate) and its weakest
character's confidence (PlateRead.text_conf) is at least READ_THRESHOLD; `alprd recognize --all`
and ``Recognizer(all_candidates=True)`` keep every candidate.

READ_THRESHOLD was chosen on dev data (CCPD dev and its stress variants, real_scenes_cn scenes:
757 reads, 620 right, 54 on no plate): at 0.35 the filter keeps 618 of the 620 right reads and
46 of the 54 junk reads go (junk 4.6 % → 1.2 % of what is reported); 0.5 would keep 616 and 49.
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
