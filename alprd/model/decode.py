"""Greedy CTC decoding with a confidence per emitted character."""
from __future__ import annotations

import numpy as np

from alprd.model.charset import BLANK, CHARS


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def ctc_greedy(probs: np.ndarray) -> tuple[str, tuple[float, ...]]:
    """probs: T×C per-step class probabilities → (text, per-char confidence).

    Best class per step; a run of the same class is one character (a blank separates true
    repeats). A character's confidence is the highest probability within its run."""
    best = probs.argmax(axis=1)
    best_p = probs[np.arange(len(best)), best]
    chars: list[str] = []
    confs: list[float] = []
    prev = BLANK
    for cls, p in zip(best.tolist(), best_p.tolist()):
        if cls != BLANK:
            if cls != prev:
                chars.append(CHARS[cls - 1])
                confs.append(p)
            else:
                confs[-1] = max(confs[-1], p)
        prev = cls
    return "".join(chars), tuple(float(c) for c in confs)


def ctc_greedy_batch(logits: np.ndarray) -> list[tuple[str, tuple[float, ...]]]:
    """N×T×C logits → one (text, char_confs) per row."""
    probs = softmax(logits.astype(np.float32), axis=-1)
    return [ctc_greedy(p) for p in probs]
