"""`alprd recognize` reports plates only; `--all` shows every candidate box; `--provinces` is a
prior that a bad character is a clear error for."""
import json

import cv2

from alprd.cli import main
from alprd.cli.recognize import sample_image
from alprd.model.defaults import READ_THRESHOLD


def _overlay(tmp_path):
    """The bundled sample with a camera's date stamp burnt in below the car."""
    img = cv2.imread(str(sample_image()))
    cv2.putText(img, "20170512", (20, 700), cv2.FONT_HERSHEY_DUPLEX, 1.4, (255, 255, 255), 3)
    path = tmp_path / "stamped.png"
    cv2.imwrite(str(path), img)
    return path


def _plates(capsys, *args):
    assert main(["recognize", "--json", "--device", "cpu", *args]) == 0
    return json.loads(capsys.readouterr().out.splitlines()[0])["plates"]


def test_a_date_stamp_is_not_reported_but_all_shows_it(tmp_path, capsys):
    path = str(_overlay(tmp_path))
    assert [p["plate"] for p in _plates(capsys, path)] == ["粤LQ092V"]
    every = _plates(capsys, "--all", path)
    assert "粤LQ092V" in [p["plate"] for p in every]
    stamp = [p for p in every if p["corners"][0][1] > 600]
    assert stamp and all(p["confidence"] < READ_THRESHOLD for p in stamp)


def test_provinces_prior_keeps_a_clear_read_and_rejects_a_bad_character(capsys):
    assert [p["plate"] for p in _plates(capsys, "--provinces", "皖,浙")] == ["粤LQ092V"]
    assert main(["recognize", "--provinces", "粤X"]) == 2
    assert "error: not a province character: X" in capsys.readouterr().err
