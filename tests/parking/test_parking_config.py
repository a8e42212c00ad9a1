"""The parking configuration: a camera's in direction as a vector or a line, and bad input."""
import pytest

from alprd.config import ConfigError, parse_config
from alprd.parking.config import InDirection


def test_a_line_means_its_right_hand_side_is_in():
    # walking from (0, 600) to (1920, 600), i.e. rightwards, the right-hand side is down the image
    assert InDirection(line=((0, 600), (1920, 600))).unit() == pytest.approx((0.0, 1.0))
    assert InDirection(line=((100, 0), (100, 50))).unit() == pytest.approx((-1.0, 0.0))
    assert InDirection(vector=(3, 4)).unit() == pytest.approx((0.6, 0.8))


@pytest.mark.parametrize("parking,message", [
    ({"role": "both"}, "cameras.0.parking: Value error, role both needs inward"),
    ({"role": "entry", "inward": {"vector": [0, 0]}}, "zero length"),
    ({"role": "entry", "inward": {"vector": [1, 0], "line": [[0, 0], [1, 0]]}}, "exactly one of vector or line"),
    ({"role": "gate"}, "cameras.0.parking.role"),
])
def test_bad_parking_settings_name_their_key(parking, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        parse_config({"cameras": [{"id": "a", "url": "x.mp4", "parking": parking}]})


def test_unknown_parking_key_is_an_error():
    with pytest.raises(ConfigError, match="parking.visit_max: unknown key"):
        parse_config({"cameras": [{"id": "a", "url": "x.mp4"}], "parking": {"visit_max": 1}})
