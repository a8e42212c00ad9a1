"""Each loss term is ~0 on a perfect prediction and grows with the error."""
import numpy as np
import torch

from alprd.model import geometry
from pipelines.losses import ctc_loss, detection_loss, mg_terms, quality_focal
from pipelines.targets import build_targets

GT = torch.tensor([[[100.0, 200.0], [220.0, 205.0], [218.0, 245.0], [98.0, 240.0]]])
SIGMA = torch.tensor([8.0])


def _terms(pred):
    return {k: float(v[0]) for k, v in mg_terms(pred, GT, SIGMA).items() if k != "gauss"}


def test_mg_terms_zero_on_perfect():
    for k, v in _terms(GT.clone()).items():
        assert abs(v) < 1e-6, k


def test_mg_terms_grow_with_error():
    shift = torch.tensor([[[1.0, 0.5]]])
    distort = torch.tensor([[[1.0, 1.0], [-1.0, 1.0], [-1.0, -1.0], [1.0, -1.0]]])   # inwards
    prev_s, prev_d = _terms(GT), _terms(GT)
    for a in (2.0, 5.0, 10.0, 20.0):
        s, d = _terms(GT + a * shift), _terms(GT + a * distort)
        assert s["loc"] > prev_s["loc"] and s["centre"] > prev_s["centre"] and s["shape"] > prev_s["shape"]
        assert d["loc"] > prev_d["loc"] and d["shape"] > prev_d["shape"] and d["disp"] > prev_d["disp"]
        assert abs(s["disp"]) < 1e-9            # a pure shift has no dispersion
        assert d["centre"] < 1e-9               # a symmetric distortion keeps the centre
        prev_s, prev_d = s, d
    # aspect changes alone move the shape term
    stretched = GT.clone()
    stretched[0, 1:3, 0] += 40
    assert _terms(stretched)["shape"] > 0.1


def test_quality_focal_zero_at_target_and_growing():
    assert float(quality_focal(torch.tensor([-30.0, 30.0]), torch.tensor([0.0, 1.0])).max()) < 1e-6
    y = torch.tensor([0.05, 0.3, 0.9])
    logit = torch.logit(y)
    assert float(quality_focal(logit, y).max()) < 1e-6
    prev = quality_focal(logit, y)
    for d in (0.5, 1.0, 2.0, 4.0):
        cur = quality_focal(logit + d, y)
        assert (cur > prev).all()
        prev = cur


def _det_case(err: float):
    q = np.array([[180, 230], [330, 236], [328, 282], [178, 276]], np.float32)
    t = build_targets([q], 32, 32)
    tt = {k: torch.from_numpy(v)[None] for k, v in t.items()}
    centres = geometry.cell_centres(32, 32)
    corners = np.broadcast_to(q + err, (32, 32, 4, 2))
    off = geometry.encode_offsets(corners, centres)           # 32×32×8
    logits = torch.zeros(1, 12, 32, 32)
    logits[0, 4:] = torch.from_numpy(off).permute(2, 0, 1)
    score = torch.full((32, 32, 4), -30.0)
    pos = t["mask"] == 1
    score[torch.from_numpy(pos)] = 30.0 if err == 0 else 0.0
    logits[0, :4] = score.permute(2, 0, 1)
    return logits, tt


def test_detection_loss_perfect_and_growing():
    logits, tt = _det_case(0.0)
    total, terms, extras = detection_loss(logits, tt)
    assert total < 1e-4 and all(abs(float(v)) < 1e-4 for v in terms.values()), terms
    assert torch.allclose(extras["gauss"], torch.ones_like(extras["gauss"]))
    prev = 0.0
    for e in (2.0, 6.0, 15.0):
        total, terms, _ = detection_loss(*_det_case(e))
        assert float(total) > prev and terms["offset"] > 0 and terms["loc"] > 0
        prev = float(total)


def test_detection_loss_ignores_ignore_cells_and_trains():
    logits, tt = _det_case(0.0)
    ign = tt["mask"][0] == -1
    assert ign.any()
    logits2 = logits.clone()
    logits2[0, :4][:, ign] = 30.0          # confident scores on ignore cells cost nothing
    assert abs(float(detection_loss(logits2, tt)[0]) - float(detection_loss(logits, tt)[0])) < 1e-6
    x = torch.zeros(1, 12, 32, 32, requires_grad=True)
    loss, _, _ = detection_loss(x, tt)
    loss.backward()
    assert x.grad[0, 4:].abs().sum() > 0 and x.grad[0, :4].abs().sum() > 0


def test_ctc_perfect_and_wrong():
    from alprd.model.charset import NUM_CLASSES, encode
    lab = encode("皖A12345")
    logits = torch.full((1, 18, NUM_CLASSES), -20.0)
    seq = [lab[i // 2] if i % 2 == 0 and i // 2 < len(lab) else 0 for i in range(18)]
    for t, c in enumerate(seq):
        logits[0, t, c] = 20.0
    good = ctc_loss(logits, torch.tensor(lab), torch.tensor([len(lab)]))
    bad = ctc_loss(logits, torch.tensor(encode("皖B12345")), torch.tensor([len(lab)]))
    assert float(good) < 1e-3 < float(bad)
