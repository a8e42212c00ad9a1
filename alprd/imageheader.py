"""The declared size of a still image, read from its header without decoding it.

Why: a decoder allocates what the header claims before it reads a pixel, so a 10 KB WebP or a
130 KB JPEG can claim gigabytes (a decompression bomb). `alprd recognize` checks the claim first,
and only for formats it can read the claim of: anything else is refused, never decoded on trust.
The JPEG reader walks every marker segment up to the first scan (a size header may come after
large EXIF/ICC segments); TIFF reads the first directory (the page OpenCV decodes).
"""
from __future__ import annotations

import re
import struct
from dataclasses import dataclass

FORMATS = "JPEG, PNG, WebP, TIFF, BMP, GIF, PNM/PAM/PFM, Sun raster, Radiance HDR"


@dataclass(frozen=True)
class Declared:
    """What a header says: the format and the size the decoder would allocate for."""

    fmt: str
    width: int
    height: int

    @property
    def pixels(self) -> int:
        return self.width * self.height


class HeaderError(ValueError):
    """A header we recognise but cannot read (truncated, malformed): the image is not readable."""


def declared_size(data: bytes) -> Declared | None:
    """The declared size, None for a format we do not read; HeaderError for a broken header."""
    for reader in _READERS:
        found = reader(data)
        if found is not None:
            return found
    return None


def _jpeg(b: bytes) -> Declared | None:
    if b[:2] != b"\xff\xd8":
        return None
    i, n = 2, len(b)
    while i < n:
        if b[i] != 0xFF:  # stray bytes before a marker: skipped, as libjpeg does
            i += 1
            continue
        while i < n and b[i] == 0xFF:  # fill bytes
            i += 1
        if i >= n:
            break
        marker = b[i]
        i += 1
        if marker in (0x01, *range(0xD0, 0xD8)):  # standalone markers
            continue
        if marker in (0xD9, 0xDA):  # end of image, start of scan: no frame header before it
            break
        if i + 2 > n:
            break
        length = int.from_bytes(b[i:i + 2], "big")
        if length < 2:
            raise HeaderError("JPEG segment length")
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            if i + 7 > n:
                break
            h, w = struct.unpack(">HH", b[i + 3:i + 7])
            return Declared("JPEG", w, h)
        i += length
    raise HeaderError("JPEG without a frame header")


def _png(b: bytes) -> Declared | None:
    if b[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    if len(b) < 24 or b[12:16] != b"IHDR":
        raise HeaderError("PNG without IHDR")
    w, h = struct.unpack(">II", b[16:24])
    return Declared("PNG", w, h)


def _webp(b: bytes) -> Declared | None:
    if b[:4] != b"RIFF" or b[8:12] != b"WEBP":
        return None
    kind = b[12:16]
    if kind == b"VP8X" and len(b) >= 30:
        return Declared("WebP", int.from_bytes(b[24:27], "little") + 1, int.from_bytes(b[27:30], "little") + 1)
    if kind == b"VP8L" and len(b) >= 25 and b[20] == 0x2F:
        bits = int.from_bytes(b[21:25], "little")
        return Declared("WebP", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
    if kind == b"VP8 " and len(b) >= 30 and b[23:26] == b"\x9d\x01\x2a":
        w, h = struct.unpack("<HH", b[26:30])
        return Declared("WebP", w & 0x3FFF, h & 0x3FFF)
    raise HeaderError("WebP without a readable frame header")


_TIFF_TYPES = {3: ("H", 2), 4: ("I", 4), 16: ("Q", 8)}  # SHORT, LONG, LONG8


def _tiff(b: bytes) -> Declared | None:
    order = {b"II": "<", b"MM": ">"}.get(b[:2])
    if order is None:
        return None
    version = struct.unpack(order + "H", b[2:4])[0] if len(b) >= 4 else 0
    if version not in (42, 43):
        return None
    try:
        if version == 42:
            (ifd,) = struct.unpack(order + "I", b[4:8])
            (count,) = struct.unpack(order + "H", b[ifd:ifd + 2])
            entry, first, value_at = 12, ifd + 2, 8
            head = order + "HHI"
        else:  # BigTIFF
            (ifd,) = struct.unpack(order + "Q", b[8:16])
            (count,) = struct.unpack(order + "Q", b[ifd:ifd + 8])
            entry, first, value_at = 20, ifd + 8, 12
            head = order + "HHQ"
        size: dict[int, int] = {}
        for k in range(min(count, 4096)):
            at = first + k * entry
            tag, typ, _n = struct.unpack(head, b[at:at + value_at])
            if tag in (256, 257) and typ in _TIFF_TYPES:
                code, width = _TIFF_TYPES[typ]
                (size[tag],) = struct.unpack(order + code, b[at + value_at:at + value_at + width])
            if len(size) == 2:
                return Declared("TIFF", size[256], size[257])
    except struct.error:
        pass
    raise HeaderError("TIFF without a readable first directory")


def _bmp(b: bytes) -> Declared | None:
    if b[:2] != b"BM" or len(b) < 26:
        return None
    (dib,) = struct.unpack("<I", b[14:18])
    if dib == 12:
        w, h = struct.unpack("<HH", b[18:22])
    else:
        w, h = struct.unpack("<ii", b[18:26])
    return Declared("BMP", abs(w), abs(h))


def _gif(b: bytes) -> Declared | None:
    if b[:6] not in (b"GIF87a", b"GIF89a"):
        return None
    if len(b) < 10:
        raise HeaderError("GIF header")
    w, h = struct.unpack("<HH", b[6:10])
    return Declared("GIF", w, h)


_PNM_TOKEN = re.compile(rb"(?:\s|#[^\n]*\n?)*(\S+)")


def _pnm(b: bytes) -> Declared | None:
    if len(b) < 2 or b[0:1] != b"P" or b[1:2] not in b"1234567Ff":
        return None
    head = b[:4096]
    if b[1:2] == b"7":  # PAM: WIDTH / HEIGHT lines
        w = re.search(rb"\nWIDTH\s+(\d+)", head)
        h = re.search(rb"\nHEIGHT\s+(\d+)", head)
        if not (w and h):
            raise HeaderError("PAM header")
        return Declared("PAM", int(w[1]), int(h[1]))
    pos, nums = 2, []
    while len(nums) < 2:
        m = _PNM_TOKEN.match(head, pos)
        if m is None or not m[1].isdigit():
            raise HeaderError("PNM header")
        nums.append(int(m[1]))
        pos = m.end()
    return Declared("PNM", nums[0], nums[1])


def _sun(b: bytes) -> Declared | None:
    if b[:4] != b"\x59\xa6\x6a\x95":
        return None
    if len(b) < 12:
        raise HeaderError("Sun raster header")
    w, h = struct.unpack(">II", b[4:12])
    return Declared("Sun raster", w, h)


_HDR_SIZE = re.compile(rb"\n\n([-+][XY])\s+(\d+)\s+([-+][XY])\s+(\d+)")


def _hdr(b: bytes) -> Declared | None:
    if not (b.startswith(b"#?RADIANCE") or b.startswith(b"#?RGBE")):
        return None
    m = _HDR_SIZE.search(b[:65536])
    if m is None:
        raise HeaderError("Radiance HDR header")
    dims = {m[1][1:2]: int(m[2]), m[3][1:2]: int(m[4])}
    if set(dims) != {b"X", b"Y"}:
        raise HeaderError("Radiance HDR resolution")
    return Declared("Radiance HDR", dims[b"X"], dims[b"Y"])


_READERS = (_jpeg, _png, _webp, _tiff, _bmp, _gif, _pnm, _sun, _hdr)
