"""Which strings are mainland civil plates (GA 36), and the most probable such string of a CTC output.

Greedy CTC reads each step on its own, so a blurred or badly cut plate can come out a character
short ("沪YG132"), doubled ("皖ANNY755") or with a letter where only digits go. Every plate the
model knows has one of a few layouts, so when the greedy read fits none of them the recogniser
takes instead the best single CTC path (Viterbi) that spells a string of one of these layouts:

    blue / yellow         region, letter, 5 × letter-or-digit            皖A12345, 沪AYG132
    green, small car      region, letter, energy letter (A-K), letter-or-digit, 4 digits   皖AD12345
    green, large vehicle  region, letter, 5 digits, D or F               皖A12345D
    police / coach        region, letter, 4 × letter-or-digit, 警 or 学   皖A1234警
    trailer (two-row)     region, letter, 4 × letter-or-digit, 挂         粤BBC71挂

Only a read at most one character off a plate's length (6 to 9) is repaired: a valid one is
kept as it is, and a much shorter or longer one (nothing, a fragment of a plate cut by the frame's
edge, a sign) is left alone rather than completed with invented characters. The replacement's
per-character confidences are the probabilities its path gives them, so a forced read of an
unreadable plate stays low-confidence for the tracker's vote.
"""
from __future__ import annotations

import re

import numpy as np

from alprd.model.charset import (BLANK, CHARS, DIGITS, LETTERS, NUM_CLASSES, REGION_CHARS, SPECIAL_CHARS,
                                 TRAILER_CHAR, encode)

ENERGY_LETTERS = tuple("ABCDEFGHJK")      # 3rd character of a small car's green plate
LARGE_ENERGY_LETTERS = ("D", "F")         # last character of a large vehicle's green plate
_ALNUM = LETTERS + DIGITS

# Each layout: the characters allowed at each position.
LAYOUTS: tuple[tuple[tuple[str, ...], ...], ...] = (
    (REGION_CHARS, LETTERS) + (_ALNUM,) * 5,
    (REGION_CHARS, LETTERS, ENERGY_LETTERS, _ALNUM) + (DIGITS,) * 4,
    (REGION_CHARS, LETTERS) + (DIGITS,) * 5 + (LARGE_ENERGY_LETTERS,),
    (REGION_CHARS, LETTERS) + (_ALNUM,) * 4 + (SPECIAL_CHARS,),
    (REGION_CHARS, LETTERS) + (_ALNUM,) * 4 + ((TRAILER_CHAR,),),
)


def _pattern() -> re.Pattern:
    def cls(chars):
        return "[" + "".join(chars) + "]"
    return re.compile("|".join("".join(cls(pos) for pos in layout) for layout in LAYOUTS))


_PATTERN = _pattern()


def is_valid_plate(text: str) -> bool:
    return _PATTERN.fullmatch(text) is not None


def _masks(layout) -> np.ndarray:
    m = np.zeros((len(layout), NUM_CLASSES), bool)
    for k, chars in enumerate(layout):
        m[k, encode("".join(chars))] = True
    return m


_MASKS = tuple(_masks(layout) for layout in LAYOUTS)
_NEG = -1e30


def log_softmax(logits: np.ndarray) -> np.ndarray:
    x = logits.astype(np.float64) - logits.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def _stack(masks) -> tuple[np.ndarray, np.ndarray]:
    """Layouts' L×C masks → one M×Lmax×C mask (no class allowed past a layout's end), lengths."""
    lengths = np.array([len(m) for m in masks])
    out = np.zeros((len(masks), int(lengths.max()), NUM_CLASSES), bool)
    for k, m in enumerate(masks):
        out[k, :len(m)] = m
    return out, lengths


_ALLOWED, _LENGTHS = _stack(_MASKS)


def _viterbi(logp: np.ndarray, allowed: np.ndarray, lengths: np.ndarray):
    """Viterbi over the CTC lattices of M layouts at once (one numpy step per time step for all of
    them: the repair of a read costs one pass, not one per layout). T×M×L×C log-probs, M×L×C allowed
    classes per position (nothing past a layout's length) → each layout's best score and every
    step's scores, from which _trace recovers the path (no back-pointers kept: the step is a few
    numpy calls on small arrays, so their number is its cost)."""
    steps, ncls = logp.shape
    m, n, _ = allowed.shape
    emit = np.where(allowed[None], logp[:, None, None, :], _NEG)            # T×M×L×C
    chars = np.full((m, n, ncls), _NEG)      # best path ending in char state (layout, k, c)
    blanks = np.full((m, n + 1), _NEG)       # ... in the blank before position k (n: after the last)
    chars[:, 0], blanks[:, 0] = emit[0, :, 0], logp[0, BLANK]
    char_hist, blank_hist = [chars], [blanks]
    neg_col = np.full((m, 1), _NEG)
    prev = np.full((m, n, ncls), _NEG)       # best from char k-1 of another class (a repeat needs a blank)
    for t in range(1, steps):
        top2 = np.partition(chars, ncls - 2, axis=2)
        v1, v2 = top2[:, :, -1], top2[:, :, -2]
        prev[:, 1:] = np.where(chars[:, :-1] >= v1[:, :-1, None], v2[:, :-1, None], v1[:, :-1, None])
        chars = np.maximum(np.maximum(chars, blanks[:, :n, None]), prev) + emit[t]
        blanks = np.maximum(blanks, np.concatenate((neg_col, v1), axis=1)) + logp[t, BLANK]
        char_hist.append(chars)
        blank_hist.append(blanks)
    end_char = chars[np.arange(m), lengths - 1].max(1)
    end_blank = blanks[np.arange(m), lengths]
    scores = np.where(lengths > steps, _NEG, np.maximum(end_char, end_blank))
    return scores, end_char, end_blank, chars, (char_hist, blank_hist)


def _trace(logp, j, n, end_char, end_blank, chars, hist) -> tuple[list[int], list[float]]:
    """Layout j's best path (its length n) → its class per position, each character's highest
    probability along the path. Each step's predecessor is recomputed from the previous step's
    scores, preferring (on ties) staying, then the blank, then the previous character."""
    char_hist, blank_hist = hist
    steps = logp.shape[0]
    if end_blank > end_char:
        kind, k, c = "blank", n, -1
    else:
        kind, k, c = "char", n - 1, int(chars[j, n - 1].argmax())
    out, probs = [0] * n, [0.0] * n
    for t in range(steps - 1, 0, -1):
        pc, pb = char_hist[t - 1][j], blank_hist[t - 1][j]
        if kind == "char":
            out[k], probs[k] = c, max(probs[k], float(np.exp(logp[t, c])))
            if k > 0:
                other = pc[k - 1].copy()
                other[c] = _NEG
                c_prev = int(other.argmax())
                from_char = other[c_prev]
            else:
                from_char = _NEG
            if pc[k, c] >= pb[k] and pc[k, c] >= from_char:
                continue                       # stayed on the same character
            if pb[k] >= from_char:
                kind = "blank"
            else:
                k, c = k - 1, c_prev
        elif k > 0:
            c_prev = int(pc[k - 1].argmax())
            if pc[k - 1, c_prev] > pb[k]:
                kind, k, c = "char", k - 1, c_prev
    if kind == "char":
        out[k], probs[k] = c, max(probs[k], float(np.exp(logp[0, c])))
    return out, probs


def _best(logp, allowed, lengths) -> tuple[float, list[int], list[float]]:
    """The best path of the best of several layouts (the first on ties)."""
    scores, end_char, end_blank, chars, srcs = _viterbi(logp, allowed, lengths)
    j = int(np.argmax(scores))
    if scores[j] <= _NEG / 2:
        return _NEG, [], []
    out, probs = _trace(logp, j, int(lengths[j]), end_char[j], end_blank[j], chars, srcs)
    return float(scores[j]), out, probs


def best_valid(logits: np.ndarray) -> tuple[str, tuple[float, ...]]:
    """T×C logits of one plate → the most probable single-path read of any layout."""
    score, out, probs = _best(log_softmax(logits), _ALLOWED, _LENGTHS)
    if not out:
        return "", ()
    return "".join(CHARS[c - 1] for c in out), tuple(probs)


REPAIR_LENGTHS = range(6, 10)


def conform(logits: np.ndarray, reads: list[tuple[str, tuple[float, ...]]]) -> list[tuple[str, tuple[float, ...]]]:
    """Greedy reads of an N×T×C batch, each invalid one of REPAIR_LENGTHS replaced by best_valid."""
    return [best_valid(logits[i]) if len(r[0]) in REPAIR_LENGTHS and not is_valid_plate(r[0]) else r
            for i, r in enumerate(reads)]
