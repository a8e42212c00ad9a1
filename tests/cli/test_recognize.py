import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from alprd.cli import main
from alprd.cli.recognize import sample_image

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"


def test_recognize_json_on_image_and_corrupt_file(tmp_path, capsys):
    good = tmp_path / "scene.png"
    cv2.imwrite(str(good), np.full((300, 400, 3), 128, np.uint8))
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    rc = main(["recognize", "--json", str(good), str(bad), str(empty), "--save-vis", str(tmp_path / "vis")])
    out, err = capsys.readouterr()
    assert rc == 1
    lines = [json.loads(line) for line in out.splitlines()]
    assert [r["file"] for r in lines] == [str(good)]
    assert lines[0]["width"] == 400 and isinstance(lines[0]["plates"], list)
    assert f"error: {bad}: not a readable image" in err
    assert f"error: {empty}: empty file" in err
    assert "2 of 3 file(s) could not be read" in err
    assert (tmp_path / "vis" / "scene_alprd.jpg").exists()


def test_recognize_reads_odd_image_formats(tmp_path, capsys):
    gray16 = tmp_path / "gray16.png"
    cv2.imwrite(str(gray16), (np.arange(200 * 300, dtype=np.uint16).reshape(200, 300) * 7))
    rgba = tmp_path / "alpha.png"
    cv2.imwrite(str(rgba), np.full((100, 150, 4), 200, np.uint8))
    assert main(["recognize", "--json", str(gray16), str(rgba)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["width"], r["height"]) for r in lines] == [(300, 200), (150, 100)]


def test_recognize_table_on_bundled_sample_as_a_command():
    assert sample_image().exists()
    proc = subprocess.run([sys.executable, "-m", "alprd", "recognize"], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "60"})
    assert proc.returncode == 0, proc.stderr
    assert "sample.jpg" in proc.stdout and "粤LQ092V" in proc.stdout.split()  # whole at 60 columns


@pytest.mark.skipif(not (SHARED / "ccpd" / "dev").exists(), reason="shared CCPD data not present")
def test_recognize_runs_on_a_ccpd_image(capsys):
    img = sorted((SHARED / "ccpd" / "dev").rglob("*.jpg"))[0]
    assert main(["recognize", "--json", str(img)]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["width"] == 720 and rec["height"] == 1160
