"""The parking stage (pure, with plain lists): matches once per vehicle, visits by camera role,
and recovery from what the SQL sink's spool still holds after a crash."""
from __future__ import annotations

import dataclasses
import sys
import uuid
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sinks"))

from helpers_sinks import T0, make_event  # noqa: E402

from alprd.parking.config import CameraParking, ParkingConfig  # noqa: E402
from alprd.parking.match import ConfusionCosts, ListEntry, PlateList  # noqa: E402
from alprd.parking.stage import ParkingStage  # noqa: E402

COSTS = ConfusionCosts.from_dict({"pairs": [{"a": "1", "b": "T", "cost": 0.58}]})
ROLES = {"in": CameraParking(role="entry", site="lot"), "out": CameraParking(role="exit", site="lot"),
         "lane": CameraParking(role="both", site="lot", inward={"vector": [0, 1]})}


class Lists:
    lists = (PlateList("residents", "allow", 0.8, None, (ListEntry("皖AT2345", "flat 3"),)),)


def stage(**kw) -> ParkingStage:
    return ParkingStage(ParkingConfig(**kw), ROLES, COSTS, lists=Lists())


def test_preview_matches_at_once_and_its_final_does_not_repeat_it():
    st = stage()
    pre = make_event("皖A12345", "in", kind="plate.preview")
    [m] = st.process(pre)
    assert (m.kind, m.list_name, m.entry_plate, m.distance, m.source_kind) == \
        ("plate.match", "residents", "皖AT2345", 0.58, "plate.preview")
    final = dataclasses.replace(pre, kind="plate.final", event_id=str(uuid.uuid4()))
    assert [e.kind for e in st.process(final)] == ["visit.open"]
    assert stage(match_previews=False).process(pre) == []


def test_a_camera_with_both_roles_goes_by_travel():
    st = stage()
    assert st.process(make_event("沪B00001", "lane", travel="unknown")) == []
    [opened] = st.process(make_event("沪B00001", "lane", travel="in"))
    [closed] = st.process(make_event("沪B00001", "lane", travel="out", at=T0 + timedelta(minutes=5)))
    assert opened.kind == "visit.open" and closed.outcome == "exited" and closed.dwell_s == 300


def test_recover_folds_in_the_spool_and_re_derives_what_a_kill_lost():
    first = stage()
    entry = make_event("沪B00001", "in")
    [opened] = first.process(entry)
    exit_ = make_event("沪B00001", "out", at=T0 + timedelta(minutes=9))
    [closed] = first.process(exit_)
    # killed after the exit's plate event was spooled and before its visit.closed was
    st = stage()
    lost = st.recover([entry.to_dict(), opened.to_dict(), exit_.to_dict()])
    assert lost == [closed] and st.occupancy == {"lot": 0}
    # nothing lost: the spool holds every derived event; nothing is published again
    st = stage()
    assert st.recover([entry.to_dict(), opened.to_dict(), exit_.to_dict(), closed.to_dict()]) == []
    # the entry already in SQL (acknowledged), its visit.open still spooled: folded in, not repeated
    st = stage()
    assert st.recover([opened.to_dict()]) == [] and st.occupancy == {"lot": 1}
    [again] = st.process(exit_)
    assert again == closed
    # a preview's match in the spool, then the final: no second match
    pre = make_event("皖A12345", "in", kind="plate.preview", track_id=7)
    [m] = stage().process(pre)
    st = stage()
    final = dataclasses.replace(pre, kind="plate.final", event_id=str(uuid.uuid4()))
    assert [e.kind for e in st.recover([m.to_dict(), final.to_dict()])] == ["visit.open"]


def test_a_reloaded_camera_gets_its_role_and_in_direction():
    from alprd.config import CameraConfig
    from alprd.config import TrackingConfig
    from alprd.parking.service import StageRunner
    from alprd.track.router import TrackRouter

    runner = StageRunner(stage())
    router = TrackRouter(["in"], TrackingConfig())
    cam = CameraConfig(id="gate2", url="x.mp4",
                       parking={"role": "exit", "site": "annex", "inward": {"vector": [-1, 0]}})
    runner.camera_changed(cam, router)
    router.add_camera("gate2")
    assert router.trackers["gate2"].inward == (-1.0, 0.0)
    assert runner.stage.occupancy == {"lot": 0, "annex": 0}
    [orphan] = runner.process(make_event("苏E12345", "gate2"))
    assert (orphan.site, orphan.outcome) == ("annex", "exit_without_entry")
    runner.camera_changed(CameraConfig(id="gate2", url="x.mp4"), router)   # role removed again
    assert runner.process(make_event("苏E12345", "gate2", track_id=2)) == [] and "gate2" not in router.inward
