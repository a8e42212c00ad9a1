import numpy as np
import pytest

from alprd.track.matching import greedy_match, iou_matrix


def test_iou_values_and_shape():
    a = [(0, 0, 10, 10), (100, 100, 110, 110)]
    b = [(0, 0, 10, 10), (5, 0, 15, 10), (50, 50, 60, 60)]
    m = iou_matrix(a, b)
    assert m.shape == (2, 3)
    assert m[0, 0] == pytest.approx(1.0)
    assert m[0, 1] == pytest.approx(50 / 150)
    assert m[0, 2] == 0.0
    assert np.all(m[1] == 0.0)


def test_iou_empty_and_degenerate():
    assert iou_matrix([], [(0, 0, 1, 1)]).shape == (0, 1)
    assert iou_matrix([(0, 0, 1, 1)], []).shape == (1, 0)
    assert iou_matrix([(5, 5, 5, 5)], [(5, 5, 5, 5)])[0, 0] == 0.0  # zero-area boxes never match


def test_iou_matches_scalar_reference():
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 100, size=(20, 2))
    wh = rng.uniform(1, 40, size=(20, 2))
    boxes = np.hstack([xy, xy + wh])
    m = iou_matrix(boxes[:8], boxes[8:])
    for i in range(8):
        for j in range(12):
            a, b = boxes[i], boxes[8 + j]
            iw = max(0, min(a[2], b[2]) - max(a[0], b[0]))
            ih = max(0, min(a[3], b[3]) - max(a[1], b[1]))
            inter = iw * ih
            union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
            assert m[i, j] == pytest.approx(inter / union)


def test_greedy_takes_best_pairs_first_and_respects_threshold():
    s = np.array([[0.9, 0.8, 0.0],
                  [0.85, 0.1, 0.0]])
    matches, ur, uc = greedy_match(s, 0.2)
    assert matches == [(0, 0)]  # row 1's only good column is taken; 0.1 is under the threshold
    assert ur == [1] and uc == [1, 2]
    matches, ur, uc = greedy_match(s, 0.05)
    assert matches == [(0, 0), (1, 1)]


def test_greedy_never_pairs_zero_overlap_and_breaks_ties_by_index():
    assert greedy_match(np.zeros((2, 2)), 0.0)[0] == []
    matches, _, _ = greedy_match(np.full((2, 2), 0.5), 0.2)
    assert matches == [(0, 0), (1, 1)]
    assert greedy_match(np.zeros((0, 3)), 0.2) == ([], [], [0, 1, 2])
