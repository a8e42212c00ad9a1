"""Evaluation through the serving path (alprd.cascade.Recognizer): the command line.

    python -m pipelines.evaluate [--weights W] [--sets ccpd_holdout,ccpd_green_holdout,crops_holdout]
                                 [--json] [--limit N] [--device cpu] [--threads 2]

Reported per set: end-to-end accuracy, detection precision / recall / F1, recognition accuracy on
the correctly detected plates, per-character accuracy (edit-distance aligned), accuracy by plate
kind (blue 7 / green 8 characters), province character vs the rest, the top character confusions,
and the time per image. The parts: pipelines.evaluation.metrics (the paper's rule and the scoring
loops), .sets (the set registry: a new set is one registration), .report (the tables).

`holdout` sets are for the final report only; training validates on dev slices (pipelines.train).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from alprd.model.defaults import DET_THRESHOLD
from pipelines.evaluation.metrics import (  # noqa: F401 - the names callers import from here
    EVALUATORS, IOU_MATCH, JITTER_DRAWS, JITTER_SIGMA, Sample, TextStats, align, evaluate_crops,
    evaluate_jittered, evaluate_reads, evaluate_scenes, jitter_quad, match, prepare_crop, rect_iou)
from pipelines.evaluation.report import print_report  # noqa: F401
from pipelines.evaluation.sets import (  # noqa: F401
    DEV_VAL_FRACTION, LPRNET_CROP, PINYIN, UnknownSet, _box_crops, register, resolve_set, set_names_help)


def run(weights: str | None, sets: list[str], root: Path, limit: int | None = None, device: str = "cpu",
        threads: int = 0, det_size: int = 512, det_threshold: float = DET_THRESHOLD, backend: str = "auto",
        reread: bool = True, zoom: bool = True, all_candidates: bool = False, unsmear: bool = True) -> dict:
    """Score the shipped (or given) weights on the named sets; raises UnknownSet before loading."""
    from alprd.cascade import Recognizer
    from alprd.cascade.zoom import ZoomPolicy

    resolved = {name: resolve_set(name, root, limit) for name in sets}
    rec = Recognizer(weights=weights, device=device, threads=threads, det_size=det_size, det_threshold=det_threshold,
                     backend=backend, reread=reread, unsmear=unsmear, all_candidates=all_candidates or None,
                     zoom=ZoomPolicy() if zoom else ZoomPolicy(tiles_per_frame=0))
    results = {"weights": weights or "shipped", "trained": rec.trained, "meta": _jsonable(rec.meta),
               "backend": getattr(rec.backend, "name", backend), "device": device, "threads": threads,
               "det_size": det_size, "det_threshold": det_threshold, "reread": reread,
               "unsmear": unsmear, "zoom": zoom, "all_candidates": all_candidates, "sets": {}}
    for name, (kind, items) in resolved.items():
        results["sets"][name] = EVALUATORS[kind](rec, items)
    return results


def _jsonable(x):
    try:
        json.dumps(x)
        return x
    except TypeError:
        return {k: str(v) for k, v in dict(x).items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pipelines.evaluate", description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights", help="weights file (default: the shipped alprd weights)")
    ap.add_argument("--sets", default="ccpd_holdout,ccpd_green_holdout,crops_holdout",
                    help="comma-separated set names (devval: dev's validation slice, never trained on). "
                         + set_names_help())
    ap.add_argument("--data", help="shared data folder (default: ../shared/data or $ALPRD_DATA)")
    ap.add_argument("--limit", type=int, help="at most N images per set")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--backend", default="auto", help="inference backend as served: auto, torch, onnxruntime")
    ap.add_argument("--det-size", type=int, default=512)
    ap.add_argument("--det-threshold", type=float, default=DET_THRESHOLD)
    ap.add_argument("--no-zoom", action="store_true",
                    help="no second look at large frames' full-resolution tiles (alprd.cascade.zoom)")
    ap.add_argument("--all", action="store_true", dest="all_candidates",
                    help="score every candidate the detector found, not only the reported reads")
    ap.add_argument("--no-reread", action="store_true",
                    help="read each plate once, from the detector's corners (no alprd.model.rewarp, no alprd.cascade.refine)")
    ap.add_argument("--no-unsmear", action="store_true",
                    help="no reread of doubtful plates with a motion smear undone (alprd.model.unsmear)")
    ap.add_argument("--json", action="store_true", help="print the metrics as JSON instead of tables")
    ap.add_argument("--out", help="also write the JSON metrics to this file")
    a = ap.parse_args(argv)
    from pipelines.data import data_root

    root = Path(a.data) if a.data else data_root(required=True)
    try:
        results = run(a.weights, [s.strip() for s in a.sets.split(",") if s.strip()], root, a.limit, a.device,
                      a.threads, a.det_size, a.det_threshold, a.backend, not a.no_reread,
                      not a.no_zoom, a.all_candidates, not a.no_unsmear)
    except UnknownSet as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    text = json.dumps(results, ensure_ascii=False, indent=1)
    if a.out:
        Path(a.out).write_text(text + "\n", encoding="utf-8")
    if a.json:
        sys.stdout.write(text + "\n")
    else:
        print_report(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
