import numpy as np
import pytest

from alprd.model.charset import CHARS, NUM_CLASSES, ccpd_text, encode
from alprd.model.plate_format import is_valid_plate
from alprd.model.decode import ctc_greedy, ctc_greedy_batch


def probs_for(steps: list[int], p: float = 0.9) -> np.ndarray:
    out = np.full((len(steps), NUM_CLASSES), (1 - p) / (NUM_CLASSES - 1), np.float32)
    out[np.arange(len(steps)), steps] = p
    return out


@pytest.mark.parametrize("plate", ["皖AFL605", "粤LQ092V", "皖AD12345", "京A00001"])
def test_greedy_reads_plates_with_blanks_repeats(plate):
    idx = encode(plate)
    steps = []
    for i in idx:                    # each char spans two steps, separated by a blank
        steps += [i, i, 0]
    steps += [0] * (18 - len(steps)) if len(steps) < 18 else []
    text, confs = ctc_greedy(probs_for(steps))
    assert text == plate
    assert len(confs) == len(plate) and all(abs(c - 0.9) < 1e-6 for c in confs)


def test_repeat_without_blank_collapses_and_with_blank_doubles():
    a = encode("A")[0]
    assert ctc_greedy(probs_for([a, a, a]))[0] == "A"
    assert ctc_greedy(probs_for([a, 0, a]))[0] == "AA"
    assert ctc_greedy(probs_for([0, 0, 0]))[0] == ""


def test_char_confidence_is_max_over_its_run():
    a = encode("A")[0]
    p = probs_for([a, a])
    p[1, a] = 0.95
    assert ctc_greedy(p)[1] == (pytest.approx(0.95),)


def test_batch_decode_from_logits():
    idx = encode("皖AFL605")
    logits = np.full((2, 18, NUM_CLASSES), -5.0, np.float32)
    for t in range(18):
        logits[0, t, idx[t // 2] if t < 14 and t % 2 == 0 else 0] = 5.0
    logits[1, :, 0] = 5.0
    out = ctc_greedy_batch(logits)
    assert out[0][0] == "皖AFL605" and out[1] == ("", ())


def test_charset_and_ccpd_indices():
    assert len(set(CHARS)) == len(CHARS) == NUM_CLASSES - 1
    assert ccpd_text([0, 0, 5, 10, 30, 24, 29]) == "皖AFL605"
    assert ccpd_text([0, 0, 3, 24, 25, 26, 27, 28]) == "皖AD01234"
    with pytest.raises(ValueError):
        ccpd_text([0, 0, 99, 1, 1, 1, 1])
    with pytest.raises(ValueError):
        encode("皖A!")
    assert is_valid_plate("皖AFL605") and is_valid_plate("皖AD12345") and not is_valid_plate("AAFL605")
