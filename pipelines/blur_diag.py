"""Where blurred plates are lost: detection, the reading, or the report filter.

For each image of a stress set (default ccpd_mblur_dev) this reads every GT plate three ways with
one weights file: from its annotated corners (RSNet alone, rereads on: the reading's ceiling),
from the detector's matched quad among all candidates (end to end, before the report filter),
and as reported (valid layout and confident: alprd.cascade.reportable). It also gives each
plate's width and the blur's length in RSNet's 144-px input (plate-relative smear).

    python -m pipelines.blur_diag [--weights W] [--set ccpd_mblur_dev] [--limit N] [--out F.json]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def diagnose(weights: str | None, set_name: str, data: Path, limit: int | None, threads: int = 1) -> dict:
    from alprd.cascade import Recognizer
    from alprd.cascade.reportable import reportable
    from pipelines.evaluation.metrics import match
    from pipelines.evaluation.sets import resolve_set
    from pipelines.stress import MBLUR_PX

    rec = Recognizer(weights, device="cpu", threads=threads, all_candidates=True)
    _, samples = resolve_set(set_name, data, limit)
    rows = []
    for s in samples:
        dets = rec.recognize([s.image])[0]
        gt_reads = rec.read_at([s.image], [(0, np.asarray(c, np.float32)) for c in s.corners])
        det_quads = np.array([np.asarray(r.corners, np.float32).reshape(4, 2) for r in dets]).reshape(-1, 4, 2)
        m = match(np.asarray(s.corners, np.float32), det_quads)
        for k, (c, text) in enumerate(zip(s.corners, s.texts)):
            width = float(np.linalg.norm(c[1] - c[0]))
            d = dets[m[k]] if m[k] >= 0 else None
            rows.append({"image": s.name, "text": text, "width_px": round(width, 1),
                         "smear_in_input_px": round(MBLUR_PX * 144 / width, 1),
                         "gt_read": gt_reads[k][0], "det_found": d is not None,
                         "det_read": d.text if d else None,
                         "reported": bool(d is not None and reportable(d))})
    n = len(rows)

    def right(key):
        return sum(r[key] == r["text"] for r in rows)

    widths = np.array([r["width_px"] for r in rows])
    out = {"set": set_name, "weights": weights or "shipped", "plates": n,
           "read_from_gt_corners": right("gt_read"),
           "detected_among_all": sum(r["det_found"] for r in rows),
           "read_right_among_all": right("det_read"),
           "read_right_and_reported": sum(r["reported"] and r["det_read"] == r["text"] for r in rows),
           "plate_width_px_pct": {p: round(float(np.percentile(widths, p)), 1) for p in (10, 50, 90)},
           "rows": rows}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weights")
    ap.add_argument("--set", default="ccpd_mblur_dev")
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--limit", type=int)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path)
    a = ap.parse_args(argv)
    res = diagnose(a.weights, a.set, a.data, a.limit, a.threads)
    if a.out:
        a.out.write_text(json.dumps(res, ensure_ascii=False, indent=1))
    print(json.dumps({k: v for k, v in res.items() if k != "rows"}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
