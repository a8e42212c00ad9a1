"""Image files to `alprd recognize`, as a user would pass them: the readable ones (alpha, 16-bit,
grey, one pixel, 1×20000) give one JSON line each; every unreadable one (empty, a header that
claims 100000×100000 pixels in PNG, JPEG or BMP, truncated, not an image, a directory) one
error line naming the file, and the run exits 1 without a traceback or a huge allocation.

Decompression bombs in every format read (issue 18 item 7: a JPEG whose frame header comes after
its first 64 KiB, WebP, TIFF, GIF, PNM...) are refused from their header, in a child process whose
peak memory is measured: nothing is decoded first. A format whose size we cannot read is refused."""
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
        "bomb.bmp": (_bmp_claiming(100_000, 100_000), "image too large (100000×100000 pixels"),
        "big.bmp": (_bmp_claiming(30_000, 30_000), "image too large (30000×30000 pixels"),
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


def _jpeg_late_sof(w: int, h: int, pad: int = 2) -> bytes:
    """A JPEG whose frame header follows `pad` 64 KiB APP1 segments (EXIF/ICC-like), then a small
    real scan when (w, h) is small: cv2 writes it, and we push its SOF past 128 KiB."""
    app = b"\xff\xe1" + struct.pack(">H", 65535) + b"Exif\0\0" + b"\0" * (65533 - 6)
    if w * h <= 10_000:
        ok, enc = cv2.imencode(".jpg", np.full((h, w, 3), 100, np.uint8))
        body = enc.tobytes()[2:]
    else:
        body = _jpeg_claiming(w, h)[2:]
    return b"\xff\xd8" + app * pad + body


def _webp_vp8x(w: int, h: int) -> bytes:
    chunk = b"VP8X" + struct.pack("<I", 10) + b"\0\0\0\0" + (w - 1).to_bytes(3, "little") + (h - 1).to_bytes(3, "little")
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


def _webp_vp8l(w: int, h: int) -> bytes:
    bits = (w - 1) | ((h - 1) << 14)
    data = b"\x2f" + bits.to_bytes(4, "little") + b"\0" * 10_000
    chunk = b"VP8L" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


def _tiff_claiming(w: int, h: int, order: str = "<") -> bytes:
    magic = b"II*\0" if order == "<" else b"MM\0*"
    entries = [(256, 4, 1, w), (257, 4, 1, h), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1),
               (273, 4, 1, 200), (277, 3, 1, 1), (278, 4, 1, h), (279, 4, 1, w * h & 0xFFFFFFFF)]
    ifd = struct.pack(order + "H", len(entries))
    for tag, typ, n, value in entries:
        ifd += struct.pack(order + "HHI", tag, typ, n) + (struct.pack(order + "HH", value, 0) if typ == 3
                                                          else struct.pack(order + "I", value))
    ifd += b"\0\0\0\0"
    head = magic + struct.pack(order + "I", 8)
    return (head + ifd).ljust(200, b"\0") + b"\0" * 1_000_000


_CHILD = """
import json, sys
from alprd.imageio import ImageError, read_image
out = {}
for path in sys.argv[1:]:
    try:
        out[path] = list(read_image(path).shape)
    except ImageError as exc:
        out[path] = str(exc)
# VmHWM: the peak of this program's own memory (ru_maxrss would include the forking parent's)
out["maxrss_mb"] = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:")) / 1024
print(json.dumps(out))
"""


def test_every_format_is_checked_from_its_header_before_decoding(tmp_path):
    import subprocess
    import sys

    from helpers_daemon import env

    good = {"late_sof.jpg": (_jpeg_late_sof(40, 30), [30, 40, 3])}
    for name, img in {"small.webp": np.full((30, 40, 3), 90, np.uint8), "small.tiff": np.full((30, 40, 3), 90, np.uint8),
                      "small.pgm": np.full((30, 40), 90, np.uint8), "small.bmp": np.full((30, 40, 3), 9, np.uint8)}.items():
        ok, enc = cv2.imencode("." + name.rsplit(".", 1)[1], img)
        assert ok
        good[name] = (enc.tobytes(), list(img.shape if img.ndim == 3 else (*img.shape, 3)))
    bad = {
        "late_sof_bomb.jpg": (_jpeg_late_sof(30_000, 30_000), "image too large (30000×30000 pixels"),
        "vp8x.webp": (_webp_vp8x(16_384, 16_384), "image too large (16384×16384 pixels"),
        "vp8l.webp": (_webp_vp8l(16_384, 16_384), "image too large (16384×16384 pixels"),
        "le.tiff": (_tiff_claiming(30_000, 30_000), "image too large (30000×30000 pixels"),
        "be.tiff": (_tiff_claiming(25_000, 25_000, ">"), "image too large (25000×25000 pixels"),
        "bomb.gif": (b"GIF89a" + struct.pack("<HH", 60_000, 60_000) + b"\0" * 1000, "image too large (60000×60000"),
        "bomb.pgm": (b"P5\n# a comment\n30000 30000\n255\n" + b"\0" * 1000, "image too large (30000×30000"),
        "exr.exr": (b"\x76\x2f\x31\x01" + b"\0" * 4000, "not a readable image (unknown format"),
        "nosof.jpg": (b"\xff\xd8\xff\xda" + b"\0" * 100, "not a readable image (JPEG without a frame header"),
    }
    paths = []
    for name, (data, _) in {**good, **bad}.items():
        (tmp_path / name).write_bytes(data)
        paths.append(str(tmp_path / name))
    res = subprocess.run([sys.executable, "-c", _CHILD, *paths], capture_output=True, text=True,
                         timeout=300, env=env())
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads(res.stdout)
    for name, (_, shape) in good.items():
        assert out[str(tmp_path / name)] == shape, (name, out[str(tmp_path / name)])
    for name, (_, why) in bad.items():
        assert out[str(tmp_path / name)].startswith(f"{tmp_path / name}: {why}"), (name, out[str(tmp_path / name)])
    # nothing was decoded on trust: numpy + OpenCV alone are ~100 MB; one bomb would be gigabytes
    assert out["maxrss_mb"] < 400, out["maxrss_mb"]
