import itertools

import numpy as np
import pytest

from alprd.model.charset import BLANK, CHARS, NUM_CLASSES, encode
from alprd.model.plate_format import best_valid, conform, is_valid_plate, log_softmax


@pytest.mark.parametrize("text", ["皖A12345", "沪AYG132", "皖AD12345", "粤BFA1234", "皖A12345D", "皖A1234警", "京B1234学"])
def test_valid_layouts(text):
    assert is_valid_plate(text)


@pytest.mark.parametrize("text", ["", "沪YG132", "皖ANNY755", "皖AD0058V", "皖A12345DD", "AAFL605", "皖12345A",
                                  "皖A1234F5", "皖AI12345", "警A12345", "皖A123警5"])
def test_invalid_strings(text):
    assert not is_valid_plate(text)


def _logits(rows: list[dict[str, float]], steps: int) -> np.ndarray:
    """steps×C logits: -20 everywhere, rows[t] = {char or "" (blank): logit}."""
    x = np.full((steps, NUM_CLASSES), -20.0)
    for t, row in enumerate(rows):
        for ch, v in row.items():
            x[t, BLANK if ch == "" else encode(ch)[0]] = v
    return x


def _collapse(path) -> str:
    out, prev = [], BLANK
    for c in path:
        if c != BLANK and c != prev:
            out.append(CHARS[c - 1])
        prev = c
    return "".join(out)


def test_best_valid_matches_brute_force_over_all_paths():
    # Five plausible classes and eight steps: every CTC path can be enumerated (5^8) and the best
    # one spelling a valid plate found by hand.
    alphabet = [BLANK] + [encode(c)[0] for c in "皖AD1"]
    rng = np.random.default_rng(7)
    for _ in range(4):
        logits = np.full((8, NUM_CLASSES), -40.0)
        logits[:, alphabet] = rng.normal(0, 2, (8, len(alphabet)))
        logp = log_softmax(logits)
        best_text, best_score = None, -np.inf
        for path in itertools.product(alphabet, repeat=8):
            text = _collapse(path)
            if is_valid_plate(text):
                score = logp[np.arange(8), path].sum()
                if score > best_score:
                    best_text, best_score = text, score
        text, confs = best_valid(logits)
        assert text == best_text
        assert len(confs) == len(text) and all(0 < c <= 1 for c in confs)


def test_missing_letter_is_restored_from_the_runner_up():
    # greedy reads 沪YG132 (the letter's step is a blank); the blank barely beat the letter A
    rows = [{"沪": 5}, {"": 3, "A": 2.5}, {"Y": 5}, {"G": 5}, {"1": 5}, {"3": 5}, {"2": 5}, {"": 5}]
    logits = _logits(rows, 8)
    greedy = [("沪YG132", (0.9,) * 6)]
    (text, confs), = conform(logits[None], greedy)
    assert text == "沪AYG132"
    assert confs[1] < 0.5 < min(confs[:1] + confs[2:])     # the forced letter stays low-confidence


def test_doubled_character_collapses_to_seven():
    # 皖ANNY755: the second N (a step of its own) fits no 8-char layout; N then blank is next best
    rows = [{"皖": 5}, {"A": 5}, {"N": 5}, {"": 3, "N": 1}, {"N": 3, "": 2.8}, {"Y": 5}, {"7": 5}, {"5": 5},
            {"": 2, "5": 1}, {"5": 5}]
    logits = _logits(rows, 10)
    (text, _), = conform(logits[None], [("皖ANNY755", (0.9,) * 8)])
    assert text == "皖ANY755"


def test_valid_empty_and_far_off_reads_are_kept():
    # valid; nothing; a fragment too short to be one slip of a plate; far too long
    rows = [{"沪": 5}, {"": 3, "A": 2.5}, {"Y": 5}, {"G": 5}, {"1": 5}, {"3": 5}, {"2": 5}, {"": 5}]
    logits = np.repeat(_logits(rows, 8)[None], 4, axis=0)   # a valid plate is there to be forced
    reads = [("皖A12345", (0.8,) * 7), ("", ()), ("A12", (0.9,) * 3), ("皖A12345678", (0.9,) * 10)]
    assert conform(logits, reads) == reads


def test_too_few_steps_for_any_plate_reads_nothing():
    assert best_valid(np.zeros((5, NUM_CLASSES), np.float32)) == ("", ())


@pytest.mark.parametrize("enabled", [True, False])
def test_recognizer_applies_the_format_as_configured(enabled):
    from alprd.config import InferenceConfig
    from alprd.infer.worker import build_recognizer

    rec = build_recognizer(InferenceConfig(device="cpu", plate_format=enabled), crops=False)
    rows = [{"沪": 5}, {"": 3, "A": 2.5}, {"Y": 5}, {"G": 5}, {"1": 5}, {"3": 5}, {"2": 5}, {"": 5}]
    (text, _), = rec._decode(_logits(rows, 8)[None].astype(np.float32))
    assert text == ("沪AYG132" if enabled else "沪YG132")
