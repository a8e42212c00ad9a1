"""Training losses: SLPNet's MG (multi-constraint Gaussian) detection loss, the Gaussian-score
focal loss on the corner score maps, and CTC for RSNet.

Detection, on the positive cells of the effective regions (pipelines.targets):

- localisation  1 − Conf, Conf = mean over the 4 corners of exp(−‖p−g‖² / 2σ²), σ = κ·√(GT area)
                (at least sigma_min pixels):
  the Gaussian score, the same quantity the score maps learn to predict;
- centre        ‖centre(p) − centre(g)‖² / diag(g)²: pulls a displaced quad back as a whole;
- shape         CIoU-style on the bounding rectangles: (1 − IoU) + α·v, v the aspect-ratio gap;
- dispersion    spread of the four per-corner error vectors around their mean, / diag(g)²:
                corners that err in different directions distort the plate's shape (and the
                warp fed to RSNet) more than a uniform shift does;
- offset        smooth-L1 on the cube-root offsets t. Not in the paper's MG loss: it is there
                because the Gaussian score has no gradient once a corner is a few σ away (which is
                where a fresh net starts), so without it early training barely moves. It keeps
                pulling from any distance; its weight can be lowered later.

Every term is averaged so that each plate counts once (targets' per-cell weights), and every term
is 0 on a perfect prediction and grows with the error.

Scores: a quality focal loss (soft-target focal loss) per corner channel; the target on a positive
cell is that corner's detached Gaussian score, 0 on negatives, nothing on ignore cells — so a
score predicts how well its cell localises the corner, and the mean of the four is the detection
confidence the serving path thresholds.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from alprd.model import geometry
from alprd.model.charset import BLANK


@dataclass(frozen=True)
class DetLossConfig:
    sigma_ratio: float = 0.12     # κ: σ = max(κ·√(GT quad area), sigma_min)
    sigma_min: float = 1.5        # view px: a 16 px plate may not ask for sub-pixel corners
    w_loc: float = 1.0
    w_centre: float = 1.0
    w_shape: float = 1.0
    w_disp: float = 1.0
    w_offset: float = 1.0
    w_score: float = 1.0
    offset_beta: float = 0.05     # smooth-L1 transition on the cube-root scale
    focal_gamma: float = 2.0
    z: float = geometry.Z_DEFAULT

    @classmethod
    def from_dict(cls, d: dict | None) -> "DetLossConfig":
        return cls(**(d or {}))


# ---------------------------------------------------------------- geometry helpers (torch)

def quad_area(q: torch.Tensor) -> torch.Tensor:
    """N×4×2 → N shoelace areas."""
    x, y = q[..., 0], q[..., 1]
    return 0.5 * (x * y.roll(-1, -1) - y * x.roll(-1, -1)).sum(-1).abs()


def bounding_rect(q: torch.Tensor) -> torch.Tensor:
    """N×4×2 → N×4 (x0, y0, x1, y1)."""
    return torch.cat((q.amin(dim=-2), q.amax(dim=-2)), dim=-1)


def gaussian_scores(pred: torch.Tensor, gt: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """N×4×2 predicted and GT corners, N σ's → N×4 Gaussian scores in (0, 1]."""
    d2 = (pred - gt).pow(2).sum(-1)
    return torch.exp(-d2 / (2 * sigma.pow(2)[:, None]))


def plate_sigma(gt: torch.Tensor, ratio: float, sigma_min: float = 1.5) -> torch.Tensor:
    return (ratio * quad_area(gt).clamp(min=1.0).sqrt()).clamp(min=sigma_min)


# ---------------------------------------------------------------- MG loss terms (per cell)

def mg_terms(pred: torch.Tensor, gt: torch.Tensor, sigma: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-cell (N) MG loss terms for predicted vs GT corners (N×4×2, view pixels)."""
    eps = 1e-6
    g = gaussian_scores(pred, gt, sigma)
    loc = 1.0 - g.mean(-1)

    rg, rp = bounding_rect(gt), bounding_rect(pred)
    wg, hg = (rg[:, 2] - rg[:, 0]).clamp(min=1.0), (rg[:, 3] - rg[:, 1]).clamp(min=1.0)
    wp, hp = (rp[:, 2] - rp[:, 0]).clamp(min=eps), (rp[:, 3] - rp[:, 1]).clamp(min=eps)
    diag2 = wg.pow(2) + hg.pow(2)

    centre = (pred.mean(-2) - gt.mean(-2)).pow(2).sum(-1) / diag2

    iw = (torch.minimum(rp[:, 2], rg[:, 2]) - torch.maximum(rp[:, 0], rg[:, 0])).clamp(min=0)
    ih = (torch.minimum(rp[:, 3], rg[:, 3]) - torch.maximum(rp[:, 1], rg[:, 1])).clamp(min=0)
    inter = iw * ih
    iou = inter / (wp * hp + wg * hg - inter + eps)
    v = (4 / math.pi ** 2) * (torch.atan(wg / hg) - torch.atan(wp / hp)).pow(2)
    with torch.no_grad():
        alpha = v / ((1 - iou) + v + eps)
    shape = (1 - iou) + alpha * v

    err = pred - gt
    disp = (err - err.mean(-2, keepdim=True)).pow(2).sum(-1).mean(-1) / diag2
    return {"loc": loc, "centre": centre, "shape": shape, "disp": disp, "gauss": g}


def quality_focal(logits: torch.Tensor, target: torch.Tensor, gamma: float = 2.0) -> torch.Tensor:
    """Elementwise soft-target focal loss (GFL's quality focal loss): BCE(logit, y)·|y − σ(logit)|^γ.
    0 with zero gradient when σ(logit) = y, whatever the soft target y."""
    p = torch.sigmoid(logits)
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    return bce * (p - target).abs().pow(gamma)


# ---------------------------------------------------------------- detection loss

def detection_loss(logits: torch.Tensor, targets: dict[str, torch.Tensor],
                   cfg: DetLossConfig | None = None) -> tuple[torch.Tensor, dict[str, float], dict]:
    """logits: B×12×h×w (DSNet.forward_logits); targets: batched pipelines.targets maps
    (mask B×h×w, corners B×h×w×4×2, offsets B×h×w×8, weight B×h×w).

    Returns (total loss, {term: detached 0-d tensor}, extras) where extras holds per-positive tensors used by the
    joint stage (predicted corners, GT corners, Gaussian scores, flat cell index)."""
    cfg = cfg or DetLossConfig()
    b, _, h, w = logits.shape
    logits = logits.float()
    mask = targets["mask"]
    pos = mask == 1
    n_pos = int(pos.sum())
    weight = targets["weight"][pos]
    n_plates = weight.sum().clamp(min=1.0)

    out = logits.permute(0, 2, 3, 1)                     # B×h×w×12
    score_logits = out[..., :4]
    centres = torch.as_tensor(geometry.cell_centres(h, w), device=logits.device)
    terms: dict[str, torch.Tensor] = {}
    extras: dict = {}
    if n_pos:
        t_pred = out[..., 4:][pos]                        # N×8
        t_gt = targets["offsets"][pos]
        cell_c = centres.expand(b, h, w, 2)[pos]
        pred = geometry.decode_offsets(t_pred, cell_c, cfg.z)    # N×4×2
        gt = targets["corners"][pos]
        sigma = plate_sigma(gt, cfg.sigma_ratio, cfg.sigma_min)
        mg = mg_terms(pred, gt, sigma)
        for name in ("loc", "centre", "shape", "disp"):
            terms[name] = (mg[name] * weight).sum() / n_plates
        off = F.smooth_l1_loss(t_pred, t_gt, beta=cfg.offset_beta, reduction="none").sum(-1)
        terms["offset"] = (off * weight).sum() / n_plates
        score_t = torch.zeros_like(score_logits)
        score_t[pos] = mg["gauss"].detach()
        extras = {"pred": pred, "gt": gt, "gauss": mg["gauss"].detach(), "pos": pos}
    else:
        zero = logits.sum() * 0.0
        terms.update(loc=zero, centre=zero, shape=zero, disp=zero, offset=zero)
        score_t = torch.zeros_like(score_logits)
    valid = (mask >= 0).unsqueeze(-1).to(score_logits.dtype)
    focal = quality_focal(score_logits, score_t, cfg.focal_gamma) * valid
    terms["score"] = focal.sum() / max(n_pos, 1)

    total = (cfg.w_loc * terms["loc"] + cfg.w_centre * terms["centre"] + cfg.w_shape * terms["shape"]
             + cfg.w_disp * terms["disp"] + cfg.w_offset * terms["offset"] + cfg.w_score * terms["score"])
    return total, {k: v.detach() for k, v in terms.items()}, extras


# ---------------------------------------------------------------- recognition loss

_ctc = torch.nn.CTCLoss(blank=BLANK, reduction="mean", zero_infinity=True)


def ctc_loss(logits: torch.Tensor, labels: torch.Tensor, label_lengths: torch.Tensor) -> torch.Tensor:
    """logits: N×T×C (RSNet); labels: concatenated class indices (1-based); label_lengths: N."""
    n, t, _ = logits.shape
    log_probs = logits.float().log_softmax(-1).transpose(0, 1)          # T×N×C
    input_lengths = torch.full((n,), t, dtype=torch.long, device=log_probs.device)
    return _ctc(log_probs, labels.long().to(log_probs.device), input_lengths,
                label_lengths.long().to(log_probs.device))
