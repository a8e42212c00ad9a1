"""Image files to `alprd recognize`, as a user would pass them: the readable ones (alpha, 16-bit,
grey, one pixel, 1×20000) give one JSON line each; every unreadable one (empty, a header that
claims 100000×100000 pixels in PNG, JPEG or BMP, truncated, not an image, a directory) one
error line naming the file, and the run exits 1 without a traceback or a huge allocation."""
from __future__ import annotations

import json
import struct
import zlib

import cv2
import numpy as np
from helpers_daemon import run_alprd


def _png_claiming(w: int, h: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 4096)) + chunk(b"IEND", b""))


def _jpeg_claiming(w: int, h: int) -> bytes:
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, h, w, 3) + b"\x01\x11\x00\x02\x11\x01\x03\x11\x01"
    return b"\xff\xd8" + sof + b"\xff\xda" + b"\0" * 64 + b"\xff\xd9"


def _bmp_claiming(w: int, h: int) -> bytes:
    row = ((24 * w + 31) // 32) * 4
    return (b"BM" + struct.pack("<IHHI", (54 + row * h) & 0xFFFFFFFF, 0, 0, 54)
            + struct.pack("<IiiHHIIiiII", 40, w, h, 1, 24, 0, (row * h) & 0xFFFFFFFF, 2835, 2835, 0, 0)
            + b"\0" * 1024)


def test_recognize_reads_what_it_can_and_names_what_it_cannot(tmp_path, badinput_weights):
    good = {
        "rgba.png": np.dstack([np.full((60, 80, 3), 120, np.uint8), np.linspace(0, 255, 80, dtype=np.uint8)[None, :].repeat(60, 0)]),
        "rgb16.png": np.full((50, 70, 3), 40000, np.uint16),
        "rgba16.png": np.full((50, 70, 4), 50000, np.uint16),
        "gray16.png": (np.arange(40 * 30, dtype=np.uint16).reshape(30, 40) * 50),
        "gray.jpg": np.full((30, 40), 90, np.uint8),
        "one.png": np.full((1, 1, 3), 200, np.uint8),
        "thin.png": np.full((1, 20000, 3), 128, np.uint8),
    }
    for name, img in good.items():
        assert cv2.imwrite(str(tmp_path / name), img)
    bad = {
        "empty.png": (b"", "empty file"),
        "bomb.png": (_png_claiming(100_000, 100_000), "image too large (100000×100000 pixels"),
        "bomb.jpg": (_jpeg_claiming(65_000, 65_000), "image too large (65000×65000 pixels"),
        "bomb.bmp": (_bmp_claiming(100_000, 100_000), "cannot decode image"),
        "big.bmp": (_bmp_claiming(30_000, 30_000), "not a readable image"),
        "truncated.png": ((tmp_path / "rgba.png").read_bytes()[:100], "not a readable image"),
        "notes.png": (b"these are not pixels\n" * 10, "not a readable image"),
    }
    for name, (data, _) in bad.items():
        (tmp_path / name).write_bytes(data)
    (tmp_path / "folder.png").mkdir()
    bad["folder.png"] = (b"", "is a directory")
    files = [str(tmp_path / n) for n in list(good) + list(bad)]
    res = run_alprd("recognize", "--json", "--weights", str(badinput_weights), "--device", "cpu", *files,
                    timeout=180, cwd=tmp_path)
    assert res.returncode == 1, res.stderr[-3000:]
    assert "Traceback" not in res.stderr, res.stderr[-3000:]
    out = {json.loads(line)["file"]: json.loads(line) for line in res.stdout.splitlines()}
    assert sorted(out) == sorted(str(tmp_path / n) for n in good)
    for name, img in good.items():
        r = out[str(tmp_path / name)]
        assert (r["height"], r["width"]) == img.shape[:2]
        assert [p["plate"] for p in r["plates"]] == ["A"]
    errors = [line for line in res.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == len(bad), res.stderr
    for name, (_, why) in bad.items():
        assert any(line.startswith(f"error: {tmp_path / name}: {why}") for line in errors), (name, errors)
    assert f"{len(bad)} of {len(files)} file(s) could not be read" in res.stderr
