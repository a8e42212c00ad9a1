"""Validation during training, on dev slices and synthetic validation data (never holdout).

- recognition: RSNet on crops, read exactly as serving reads (geometry.normalize → RSNet → greedy
  CTC), exact-read accuracy per set;
- detection quality: the mean Gaussian score of the predicted corners of each GT plate (the best
  scoring cell among the plate's positive cells, the one serving would keep), the quantity whose
  threshold switches the joint stage from GT to predicted corners;
- end to end: full frames through alprd.cascade.Recognizer built on the current weights
  (pipelines.evaluate.evaluate_scenes), so the checkpoint choice measures the serving path.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch

from alprd.model import geometry
from alprd.backends.prepost import read_plates
from pipelines.evaluate import Sample, TextStats, evaluate_scenes, prepare_crop
from pipelines.losses import gaussian_scores, plate_sigma
from pipelines.targets import TargetConfig, build_targets
from pipelines.train_data import det_item, scene_parts


@torch.no_grad()
def read_crops(rsnet, crops: list[np.ndarray], device: torch.device, batch: int = 128) -> list[str]:
    rsnet.eval()
    out: list[str] = []
    for i in range(0, len(crops), batch):
        x = geometry.normalize(np.stack(crops[i:i + batch])).to(device)
        out += [t for t, _ in read_plates(rsnet(x).float().cpu().numpy())]   # decoded as served
    return out


def crop_metrics(rsnet, items: list[tuple[str, np.ndarray, str]], device: torch.device) -> dict:
    """items: (name, BGR crop of any size, text) → {exact_acc, char_acc, n}."""
    if not items:
        return {}
    reads = read_crops(rsnet, [prepare_crop(im) for _, im, _ in items], device)
    st = TextStats()
    for (_, _, text), r in zip(items, reads):
        st.add(text, r)
    d = st.as_dict(top=5)
    return {"n": d["plates"], "exact_acc": d["exact_acc"], "char_acc": d["char_acc"]}


@torch.no_grad()
def mean_gauss(dsnet, scenes: list, size: int, device: torch.device, target_cfg: TargetConfig,
               sigma_ratio: float, sigma_min: float = 1.5, batch: int = 16) -> dict:
    """Mean Gaussian score of the predicted corners (best-scoring positive cell per GT plate)."""
    dsnet.eval()
    g = size // target_cfg.stride
    centres = torch.as_tensor(geometry.cell_centres(g, g))
    scores: list[float] = []
    for i in range(0, len(scenes), batch):
        items = [det_item(s, size) for s in scenes[i:i + batch]]
        x = geometry.normalize(np.stack([v for v, _, _ in items])).to(device)
        out = dsnet(x).float().cpu()
        for o, (_, quads, _) in zip(out, items):
            t = build_targets(quads, g, g, target_cfg)
            conf = o[:4].mean(0)
            for k in range(len(quads)):
                sel = torch.from_numpy((t["plate"] == k) & (t["mask"] == 1))
                if not sel.any():
                    continue
                c = torch.where(sel, conf, torch.tensor(-1.0))
                yx = divmod(int(torch.argmax(c)), g)
                pred = geometry.decode_offsets(o[4:, yx[0], yx[1]], centres[yx], target_cfg.z)[None]
                gt = torch.from_numpy(quads[k])[None]
                scores.append(float(gaussian_scores(pred, gt, plate_sigma(gt, sigma_ratio, sigma_min)).mean()))
    return {"mean_gauss": round(float(np.mean(scores)), 4) if scores else 0.0, "plates": len(scores)}


def as_samples(scenes: list, prefix: str) -> list[Sample]:
    out = []
    for i, s in enumerate(scenes):
        image, corners, texts = scene_parts(s)
        out.append(Sample(f"{prefix}{i}", image, corners, tuple(texts)))
    return out


def end_to_end(dsnet, rsnet, samples: list[Sample], device: str, det_size: int, threshold: float = 0.5) -> dict:
    """Full frames through the serving Recognizer (torch backend) on the current weights."""
    from alprd.cascade import Recognizer
    from alprd.model.weights import save_weights

    if not samples:
        return {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "val.pt"
        save_weights(path, dsnet, rsnet, {"note": "validation snapshot"})
        rec = Recognizer(weights=str(path), device=device, det_size=det_size, det_threshold=threshold,
                         backend="torch")
        m = evaluate_scenes(rec, samples)
    keep = ("images", "e2e_acc", "det_precision", "det_recall", "det_f1", "rec_acc_on_detected", "ms_per_image")
    return {k: m[k] for k in keep}
