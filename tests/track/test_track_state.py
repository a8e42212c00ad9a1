import pytest

from alprd.track.track import Track
from helpers_track import read


def _moved(dx, dy, steps=5):
    t = Track(1, read(500, 500), 0.0, stationary_px=20)
    for i in range(1, steps + 1):
        t.add(read(500 + dx * i / steps, 500 + dy * i / steps), i * 0.1)
    return t


@pytest.mark.parametrize("dx,dy,expected", [
    (200, 10, "right"), (-200, 30, "left"), (10, 150, "down"), (-5, -150, "up"), (8, -8, "stationary"),
])
def test_direction_from_centre_motion(dx, dy, expected):
    assert _moved(dx, dy).direction() == expected


def test_parked_after_driving_in_and_staying():
    t = Track(1, read(0, 500), 0.0, stationary_px=20)
    for i in range(1, 11):  # drives 500 px right in 1 s
        t.add(read(50 * i, 500), i * 0.1)
    assert not t.is_parked(60)
    for s in range(2, 70):  # then stands still, jittering by a few pixels
        t.add(read(500 + (s % 3), 500 - (s % 2)), float(s))
    assert t.is_parked(60)
    assert t.direction() == "right"


def test_best_read_keeps_corners_and_crop():
    t = Track(1, read(0, 0, conf=0.6, crop=b"worse"), 0.0)
    t.add(read(5, 0, conf=0.99, crop=b"best"), 0.1)
    t.add(read(10, 0, conf=0.7, crop=b"meh"), 0.2)
    t.add(read(15, 0, text="", conf=1.0, crop=b"no text"), 0.3)
    assert t.best_read.crop_jpeg == b"best"
    assert t.best_read.corners[0] == (5.0, 0.0)
    assert t.hits == 4 and t.ballot.reads == 3


def test_predicted_box_follows_velocity():
    t = Track(1, read(0, 0), 0.0)
    t.add(read(100, 0), 0.1)  # 1000 px/s to the right
    x1, y1, x2, y2 = t.predicted_box(0.2)
    assert x1 == pytest.approx(200) and y1 == pytest.approx(0)
    assert t.first_size == t.last_size == (100.0, 30.0)
