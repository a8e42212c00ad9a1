"""Drawing reads onto a frame for humans (`recognize --save-vis`, debugging)."""
from __future__ import annotations

import cv2
import numpy as np

from alprd.events import PlateRead

# OpenCV's Hershey fonts have no CJK glyphs: provinces are drawn by their pinyin abbreviation.
_PINYIN = dict(zip(
    "皖沪津渝冀晋蒙辽吉黑苏浙京闽赣鲁豫鄂湘粤桂琼川贵云藏陕甘青宁新警学",
    "Wan Hu Jin Yu Ji Jin Meng Liao Ji Hei Su Zhe Jing Min Gan Lu Yu E Xiang Yue Gui Qiong Chuan "
    "Gui Yun Zang Shan Gan Qing Ning Xin Jing Xue".split(),
))


def ascii_plate(text: str) -> str:
    return "".join(f"{_PINYIN[c]}-" if c in _PINYIN else c for c in text)


def draw_reads(frame: np.ndarray, reads: list[PlateRead]) -> np.ndarray:
    out = frame.copy()
    scale = max(0.5, out.shape[1] / 1200)
    for r in reads:
        pts = np.round(np.asarray(r.corners)).astype(np.int32)
        cv2.polylines(out, [pts], True, (0, 255, 0), max(1, int(2 * scale)), cv2.LINE_AA)
        label = f"{ascii_plate(r.text) or '?'} {r.det_conf:.2f}"
        x, y = int(pts[:, 0].min()), int(pts[:, 1].min()) - 6
        cv2.putText(out, label, (x, max(12, y)), cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale, (0, 0, 0), int(4 * scale), cv2.LINE_AA)
        cv2.putText(out, label, (x, max(12, y)), cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale, (0, 255, 255), max(1, int(scale * 1.5)), cv2.LINE_AA)
    return out
