"""The character set shared by CCPD parsing, synthesis, training and CTC decoding.

CCPD encodes a plate as indices into three lists (province, alphabet, "ads"); each list ends with
"O", CCPD's placeholder for "no character". The recognizer's alphabet is the union of the real
characters, with index 0 reserved for the CTC blank.
"""
from __future__ import annotations

PROVINCES = (
    "皖", "沪", "津", "渝", "冀", "晋", "蒙", "辽", "吉", "黑", "苏", "浙", "京", "闽", "赣",
    "鲁", "豫", "鄂", "湘", "粤", "桂", "琼", "川", "贵", "云", "藏", "陕", "甘", "青", "宁",
    "新", "警", "学", "O",
)
ALPHABETS = (
    "A", "B", "C", "D", "E", "F", "G", "H", "J", "K", "L", "M", "N", "P", "Q", "R", "S", "T",
    "U", "V", "W", "X", "Y", "Z", "O",
)
ADS = ALPHABETS[:-1] + tuple("0123456789") + ("O",)

LETTERS = ALPHABETS[:-1]
DIGITS = tuple("0123456789")
REGION_CHARS = PROVINCES[:-3]          # the 31 provinces that start a civil plate
SPECIAL_CHARS = ("警", "学")             # police / driving-school suffixes in CCPD's list
TRAILER_CHAR = "挂"                      # last character of a trailer's (two-row) plate

BLANK = 0
# 挂 comes last so every older class keeps its index (weights.fit_rsnet_state pads old heads)
CHARS: tuple[str, ...] = REGION_CHARS + SPECIAL_CHARS + LETTERS + DIGITS + (TRAILER_CHAR,)
NUM_CLASSES = len(CHARS) + 1           # + CTC blank at index 0
_INDEX = {c: i + 1 for i, c in enumerate(CHARS)}


def encode(text: str) -> list[int]:
    """Class indices (1-based; 0 is the blank) of a plate string."""
    try:
        return [_INDEX[c] for c in text]
    except KeyError as exc:
        raise ValueError(f"character {exc.args[0]!r} of plate {text!r} is not in the charset") from None


def decode_indices(indices) -> str:
    return "".join(CHARS[i - 1] for i in indices if i != BLANK)


def ccpd_text(indices: list[int]) -> str:
    """Plate string from CCPD's per-position indices (province, alphabet, then ads)."""
    if len(indices) not in (7, 8):
        raise ValueError(f"a CCPD plate has 7 or 8 characters, got {len(indices)} indices")
    lists = (PROVINCES, ALPHABETS) + (ADS,) * (len(indices) - 2)
    chars = []
    for pos, (lst, i) in enumerate(zip(lists, indices)):
        if not 0 <= i < len(lst) - 1:
            raise ValueError(f"CCPD index {i} at position {pos} is out of range")
        chars.append(lst[i])
    return "".join(chars)
