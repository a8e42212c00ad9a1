"""Runs HyperLPR (the `hyperlpr2` package from PyPI, weights bundled in its wheel) over images.

Run by benchmarks.peers with the peer's own Python: hyperlpr2 needs OpenCV 4 (its Caffe models and
Haar cascades were removed from OpenCV 5, which alprd uses), so it lives in a separate virtual
environment. Imports nothing from alprd. Reads a JSON list of image paths on stdin, writes one
JSON object: per image the reads [[text, confidence, [x1, y1, x2, y2]], ...], wall and CPU ms.
"""
from __future__ import annotations

import json
import sys
import time


def main() -> int:
    import cv2
    import hyperlpr2

    paths = json.loads(sys.stdin.read())
    warm = cv2.imread(paths[0]) if paths else None
    if warm is not None:
        hyperlpr2.HyperLPR_plate_recognition(warm)      # first call: lazy allocations
    out = []
    for p in paths:
        img = cv2.imread(p)
        if img is None:
            out.append({"path": p, "error": "unreadable"})
            continue
        c0, t0 = time.process_time(), time.perf_counter()
        reads = hyperlpr2.HyperLPR_plate_recognition(img)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        out.append({"path": p, "reads": [[str(r[0]), float(r[1]), [int(v) for v in r[2]]] for r in reads],
                    "ms": wall * 1000, "cpu_ms": cpu * 1000})
    from importlib.metadata import version

    json.dump({"system": "HyperLPR (hyperlpr2 " + version("hyperlpr2") + ", OpenCV " + cv2.__version__ + ")",
               "results": out}, sys.stdout, ensure_ascii=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
