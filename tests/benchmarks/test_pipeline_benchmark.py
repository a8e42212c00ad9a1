"""benchmarks/pipeline.py: a daemon that cannot start makes the benchmark fail loudly (not a table of
zeros); read accuracy, the plate style that follows the weights, the daemon's default max_batch.
No timing is asserted."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import pipeline, scenes  # noqa: E402


def test_a_daemon_that_cannot_start_is_an_error_not_a_row_of_zeros(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ALPRD_CACHE", str(tmp_path / "cache"))
    missing = tmp_path / "no-such-weights.pt"
    rc = pipeline.main(["--cameras", "1", "--modes", "paced", "--seconds", "3", "--size", "256x144",
                        "--weights", str(missing), "--workdir", str(tmp_path / "w"), "--json"])
    out, err = capsys.readouterr()
    assert rc == 1
    result = json.loads(out)
    [row] = result["rows"]
    assert row["exit_code"] != 0 and "exited with code" in row["error"]
    assert str(missing) in row["stderr_tail"]                      # the daemon's own reason, kept
    assert result["errors"] == [f"1 camera(s) paced: {row['error']}"]
    assert "ERROR" in err and str(missing) in err                  # and printed, even with --json
    pipeline.print_table(result)
    assert "ERROR" in capsys.readouterr().out


def test_run_error_flags_failed_timed_out_and_empty_runs():
    ok = {"exit_code": 0, "timed_out": False, "stats": {"frames": {"processed": 5}}}
    assert pipeline.run_error(ok, 60) is None
    assert "code 1" in pipeline.run_error({**ok, "exit_code": 1}, 60)
    assert "within 60 s" in pipeline.run_error({**ok, "exit_code": -9, "timed_out": True}, 60)
    assert "0 frames" in pipeline.run_error({**ok, "stats": {"frames": {"processed": 0, "received": 9}}}, 60)
    assert "stats.json" in pipeline.run_error({**ok, "stats": {}}, 60)


def test_read_accuracy_counts_finals_with_the_drawn_text_per_camera():
    passes = [(0.0, 3.0, "皖A12345"), (4.0, 7.0, "京B6789C")]

    def ev(kind, cam, plate):
        return (0.0, {"kind": kind, "camera_id": cam, "plate": plate})

    events = [ev("plate.preview", "cam0", "京B6789C"),      # a preview is not a final
              ev("plate.final", "cam0", "皖A12345"),
              ev("plate.final", "cam0", "皖A12345"),        # a split track counts once
              ev("plate.final", "cam1", "京B6789C"),
              ev("plate.final", "cam1", "沪A12345")]        # misread
    assert pipeline.read_accuracy(events, passes, ["cam0", "cam1"]) == {"right": 2, "passed": 4, "accuracy": 0.5}
    assert pipeline.read_accuracy([], passes, ["cam0"])["right"] == 0


def test_max_batch_is_left_to_the_daemon_unless_given(tmp_path):
    def inference(max_batch):
        cfg = pipeline.write_config(tmp_path / "a.yaml", tmp_path / "v.mp4", 1, state=tmp_path, weights=None,
                                    fps=10, backend="auto", max_batch=max_batch, threads=1)
        return yaml.safe_load(cfg.read_text())["inference"]

    assert "max_batch" not in inference(None)
    assert inference(8)["max_batch"] == 8


def test_plate_style_follows_the_weights(tmp_path, monkeypatch):
    from alprd.model.weights import build_models, default_weights_path
    from benchmarks.rigged import make_bright_plate_weights

    built = str(make_bright_plate_weights(tmp_path / "bright.pt"))
    assert pipeline.weights_and_plates(built, "auto", tmp_path)[2] == "drawn"
    assert pipeline.weights_and_plates(str(tmp_path / "missing.pt"), "auto", tmp_path)[2] == "drawn"
    if not (default_weights_path().exists() and build_models(None)[2].get("trained")):
        pytest.skip("the shipped weights are not trained")
    monkeypatch.setattr(scenes, "rendered_plates_available", lambda: True)
    wpath, _, style, note = pipeline.weights_and_plates(None, "auto", tmp_path)
    assert (wpath, style, note) == (str(default_weights_path()), "rendered", None)
    # no synth assets: built weights and drawn plates, and the table says so
    monkeypatch.setattr(scenes, "rendered_plates_available", lambda: False)
    wpath, wdesc, style, note = pipeline.weights_and_plates(None, "auto", tmp_path)
    assert style == "drawn" and "built" in wdesc and "missing" in note
    assert pipeline.weights_and_plates(wpath, "auto", tmp_path)[2] == "drawn"


def test_crossing_video_with_rendered_plates(tmp_path):
    import av
    import numpy as np

    from alprd.model.plate_format import is_valid_plate

    assert all(is_valid_plate(t) for t in scenes.RENDERED_TEXTS)
    if not scenes.rendered_plates_available():
        pytest.skip("synth assets (../shared/data/synth) missing")
    w, h, fps = 640, 360, 10
    path, passes = scenes.crossing_video(tmp_path / "r.mp4", (w, h), seconds=4.0, fps=fps, cross_s=2.0,
                                         gap_s=0.5, tail_s=1.0, plates="rendered")
    assert [p[2] for p in passes] == list(scenes.RENDERED_TEXTS[:len(passes)]) and len(passes) == 1
    mid = int((passes[0][0] + passes[0][1]) / 2 * fps)
    with av.open(str(path)) as c:
        frame = [f.to_ndarray(format="bgr24") for f in c.decode(video=0)][mid]
    # a blue plate about RENDERED_PLATE_W_1080P * w / 1920 pixels wide, around the frame's centre
    row = frame[int(h * 0.6)].astype(int)
    blue = np.flatnonzero((row[:, 0] > row[:, 2] + 40) & (row[:, 0] > 90))
    want = scenes.RENDERED_PLATE_W_1080P * w / 1920
    assert blue.size and 0.6 * want < blue[-1] - blue[0] < 1.2 * want
    assert abs((blue[0] + blue[-1]) / 2 - w / 2) < 0.1 * w
