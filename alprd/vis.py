"""Drawing reads onto a frame for humans (`recognize --save-vis`, debugging).

Plates are drawn as read, provinces in Chinese, with the read's confidence (not the detector's):
OpenCV's Hershey fonts have no CJK glyphs, so the label is set with Pillow in a CJK font from the
system (Debian: fonts-wqy-microhei, fonts-wqy-zenhei or fonts-noto-cjk; or ALPRD_CJK_FONT=FILE).
Without one, provinces fall back to their pinyin abbreviation (粤 → Yue-) and a warning says so
once.
"""
from __future__ import annotations

import logging
import os
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from alprd.events import PlateRead

log = logging.getLogger(__name__)

# Debian's CJK font packages, smallest first; the first file that exists is used.
CJK_FONTS = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",       # fonts-wqy-microhei
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",         # fonts-wqy-zenhei
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",  # fonts-noto-cjk
    "/usr/share/fonts/truetype/arphic/uming.ttc",           # fonts-arphic-uming
)

_PINYIN = dict(zip(
    "皖沪津渝冀晋蒙辽吉黑苏浙京闽赣鲁豫鄂湘粤桂琼川贵云藏陕甘青宁新警学挂",
    "Wan Hu Jin Yu Ji Jin Meng Liao Ji Hei Su Zhe Jing Min Gan Lu Yu E Xiang Yue Gui Qiong Chuan "
    "Gui Yun Zang Shan Gan Qing Ning Xin Jing Xue Gua".split(),
))


def ascii_plate(text: str) -> str:
    return "".join(f"{_PINYIN[c]}-" if c in _PINYIN else c for c in text)


@lru_cache(maxsize=1)
def cjk_font_path() -> Path | None:
    """The CJK font labels are drawn in, or None (then provinces are drawn in pinyin)."""
    env = os.environ.get("ALPRD_CJK_FONT")
    for candidate in ([env] if env else []) + list(CJK_FONTS):
        if Path(candidate).is_file():
            return Path(candidate)
    log.warning("no CJK font found (install fonts-wqy-microhei, or set ALPRD_CJK_FONT): "
                "provinces are drawn in pinyin")
    return None


def label_of(read: PlateRead) -> str:
    return f"{read.text or '?'} {read.text_conf:.2f}"


def draw_reads(frame: np.ndarray, reads: list[PlateRead]) -> np.ndarray:
    """A copy of the BGR frame with each plate's quad and its label (plate, read confidence)."""
    out = frame.copy()
    scale = max(0.5, out.shape[1] / 1200)
    labels = []
    for r in reads:
        pts = np.round(np.asarray(r.corners)).astype(np.int32)
        cv2.polylines(out, [pts], True, (0, 255, 0), max(1, int(2 * scale)), cv2.LINE_AA)
        labels.append((label_of(r), int(pts[:, 0].min()), int(pts[:, 1].min())))
    font = cjk_font_path() if labels else None
    if font is not None:
        return _draw_labels_pillow(out, labels, font, scale)
    for text, x, y in labels:
        org = (x, max(12, y - 6))
        text = ascii_plate(text)
        cv2.putText(out, text, org, cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale, (0, 0, 0), int(4 * scale), cv2.LINE_AA)
        cv2.putText(out, text, org, cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale, (0, 255, 255),
                    max(1, int(scale * 1.5)), cv2.LINE_AA)
    return out


def _draw_labels_pillow(bgr: np.ndarray, labels, font_path: Path, scale: float) -> np.ndarray:
    from PIL import Image, ImageDraw, ImageFont

    size = max(12, int(22 * scale))
    font = ImageFont.truetype(str(font_path), size)
    img = Image.fromarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    draw = ImageDraw.Draw(img)
    for text, x, y in labels:
        top = max(0, y - size - 6)
        draw.text((x, top), text, font=font, fill=(255, 255, 0),
                  stroke_width=max(1, size // 8), stroke_fill=(0, 0, 0))
    return cv2.cvtColor(np.asarray(img), cv2.COLOR_RGB2BGR)
