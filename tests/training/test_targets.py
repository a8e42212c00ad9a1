"""Effective-region targets: positives inside the quad, centre cell always positive, ignore ring."""
import numpy as np

from alprd.model import geometry
from pipelines.targets import TargetConfig, build_targets, points_in_quad, shrink


def _quad(cx, cy, w, h):
    return np.array([[cx - w / 2, cy - h / 2], [cx + w / 2, cy - h / 2],
                     [cx + w / 2, cy + h / 2], [cx - w / 2, cy + h / 2]], np.float32)


def test_positives_inside_quad_and_offsets_decode_back():
    q = _quad(250, 260, 200, 64)
    t = build_targets([q], 32, 32)
    centres = geometry.cell_centres(32, 32)
    pos = t["mask"] == 1
    assert pos.sum() >= 2
    assert points_in_quad(centres[pos], q).all()
    dec = geometry.decode_offsets(t["offsets"][pos], centres[pos])
    np.testing.assert_allclose(dec, np.broadcast_to(q, dec.shape), atol=1e-3)
    np.testing.assert_allclose(t["weight"][pos].sum(), 1.0, rtol=1e-5)
    assert (t["weight"][~pos] == 0).all()


def test_small_plate_gets_its_centre_cell():
    q = _quad(100.3, 300.7, 20, 7)          # far smaller than a 16 px cell
    t = build_targets([q], 32, 32)
    assert t["mask"][int(300.7 // 16), int(100.3 // 16)] == 1
    assert (t["mask"] == 1).sum() >= 1


def test_centre_cell_forced_for_large_plate_off_grid():
    cfg = TargetConfig.from_dict({"classes": [{"max_side": 1e9, "s_pos": 0.05, "s_ign": 1.0}]})
    q = _quad(200, 200, 300, 100)            # shrunk region holds no cell centre
    t = build_targets([q], 32, 32, cfg)
    assert t["mask"][200 // 16, 200 // 16] == 1


def test_ignore_ring_between_shrink_factors():
    q = _quad(256, 256, 320, 96)             # large class: s_pos 0.4, s_ign 1.0
    cfg = TargetConfig()
    t = build_targets([q], 32, 32, cfg)
    centres = geometry.cell_centres(32, 32)
    big = cfg.classes[cfg.size_class(np.sqrt(320 * 96))]
    in_ign = points_in_quad(centres, shrink(q, big.s_ign))
    ign = t["mask"] == -1
    assert ign.any()
    assert in_ign[ign].all()                                   # ignore cells lie in the outer quad
    assert not points_in_quad(centres[ign], shrink(q, big.s_pos)).any()
    assert (t["mask"][~in_ign] == 0).all()                     # negatives outside


def test_overlap_goes_to_smaller_plate_and_no_plates():
    big = _quad(256, 256, 400, 200)
    small = _quad(256, 256, 40, 14)
    t = build_targets([big, small], 32, 32)
    assert t["plate"][256 // 16, 256 // 16] == 1
    empty = build_targets(np.zeros((0, 4, 2)), 32, 32)
    assert (empty["mask"] == 0).all() and empty["weight"].sum() == 0
