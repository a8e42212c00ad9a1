"""Peers benchmark: the same images through alprd's SLPNet cascade and through a public ALPR system
that runs offline here, side by side: plates read exactly, milliseconds per image.

    python -m benchmarks.peers --setup-peer          # once: a virtualenv with the peer (PyPI)
    python -m benchmarks.peers [--images DIR] [--limit N] [--weights FILE] [--json]

The peer is HyperLPR, as packaged on PyPI by `hyperlpr2` (2.0.0): the only Chinese-plate ALPR
package found there whose weights ship inside the wheel (Caffe SSD detector, refinement net and
CTC recogniser run by OpenCV's DNN module). `hyperlpr3`, the newer HyperLPR, downloads its models at
first use and so cannot run offline; other registry packages either do the same or need a cloud
API. hyperlpr2 needs OpenCV 4 (OpenCV 5, which alprd uses, dropped the Caffe importer and the Haar
cascades), so --setup-peer puts it in its own virtual environment
(<cache>/peers/hyperlpr2: `opencv-python-headless<5`, numpy, and `hyperlpr2 --no-deps`, whose
declared dependency opencv-python would clash with the headless build) and the images go through
it in a subprocess (benchmarks/peer_hyperlpr.py). Without that environment the table says that
no peer ran, and why.

alprd runs twice, as served (a doubtful read read again from wider warps: alprd.model.rewarp) and
with one read per plate, so the rereads' cost and gain are measured in the same run.

Images: --images DIR (CCPD-named files carry their plate text; other images count for speed only),
default the CCPD dev images in ../shared/data when present, else rendered scenes (speed only).
A plate counts as read when some read of the image equals the label exactly.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PEER = "hyperlpr2"


def peer_dir() -> Path:
    from alprd.backends.onnx_backend import cache_dir

    return cache_dir() / "peers" / PEER


def peer_python(explicit: str | None = None) -> Path | None:
    for cand in (explicit, os.environ.get("ALPRD_PEER_PYTHON"), peer_dir() / "bin" / "python"):
        if cand and Path(cand).exists():
            return Path(cand)
    return None


def setup_peer() -> Path:
    d = peer_dir()
    subprocess.run([sys.executable, "-m", "venv", str(d)], check=True)
    pip = [str(d / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run(pip + ["opencv-python-headless<5", "numpy"], check=True)
    subprocess.run(pip + ["--no-deps", f"{PEER}==2.0.0"], check=True)
    return d / "bin" / "python"


def image_set(images: str | None, limit: int) -> tuple[list[tuple[Path, str | None]], str]:
    """[(path, label or None)], and where they came from."""
    from pipelines.data.ccpd import load_ccpd_split, parse_ccpd_name

    if images:
        out = []
        for p in sorted(Path(images).rglob("*")):
            if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".bmp"):
                try:
                    out.append((p, parse_ccpd_name(p.name).text))
                except ValueError:
                    out.append((p, None))
        return out[:limit], str(images)
    shared = REPO.parent / "shared" / "data"
    samples = load_ccpd_split(shared, "dev") if (shared / "ccpd").is_dir() else []
    if samples:
        return [(s.path, s.label.text) for s in samples][:limit], f"CCPD dev images in {shared} (labels from the names)"
    tmp = Path(tempfile.mkdtemp(prefix="alprd-peers-"))
    import cv2

    from benchmarks.scenes import frame_with_plate

    out = []
    for i in range(min(limit, 8)):
        img, _ = frame_with_plate((720, 1160), (360, 600 + 20 * i), seed=i)
        p = tmp / f"scene{i}.jpg"
        cv2.imwrite(str(p), img)
        out.append((p, None))
    return out, "rendered scenes (no shared CCPD data here; speed only)"


def run_alprd(items, weights: str | None, backend: str, threads: int, reread: bool = True) -> dict:
    import cv2
    import numpy as np

    from alprd.cascade import Recognizer

    rec = Recognizer(weights, backend=backend, device="cpu", threads=threads, reread=reread)
    first = cv2.imread(str(items[0][0])) if items else None
    if first is not None:
        rec.recognize([first])
    results = []
    for path, _ in items:
        img = cv2.imread(str(path))
        c0, t0 = time.process_time(), time.perf_counter()
        reads = rec.recognize([img])[0]
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        reads = sorted(reads, key=lambda r: -r.det_conf)
        results.append({"path": str(path), "reads": [[r.text, float(np.mean(r.char_confs)) if r.char_confs else 0.0,
                                                     None] for r in reads],
                        "ms": wall * 1000, "cpu_ms": cpu * 1000})
    trained = "trained" if rec.trained else "UNTRAINED (random) weights: reads nothing"
    reads = "doubtful reads reread" if reread else "one read per plate"
    return {"system": f"alprd SLPNet cascade ({rec.backend.name}, {reads}, {trained})", "results": results}


def run_peer(items, python: Path) -> dict:
    proc = subprocess.run([str(python), str(REPO / "benchmarks" / "peer_hyperlpr.py")],
                          input=json.dumps([str(p) for p, _ in items]), capture_output=True, text=True,
                          timeout=3600)
    if proc.returncode != 0:
        raise RuntimeError(f"the peer failed: {proc.stderr[-1500:]}")
    return json.loads(proc.stdout)


def summarise(run: dict, labels: dict[str, str | None]) -> dict:
    rs = [r for r in run["results"] if "ms" in r]
    labelled = [r for r in rs if labels.get(r["path"])]
    hit = sum(any(read[0] == labels[r["path"]] for read in r["reads"]) for r in labelled)
    top = sum(bool(r["reads"]) and r["reads"][0][0] == labels[r["path"]] for r in labelled)
    return {"system": run["system"], "images": len(rs), "labelled": len(labelled),
            "plates_read": hit, "accuracy": round(hit / len(labelled), 3) if labelled else None,
            "top_read_accuracy": round(top / len(labelled), 3) if labelled else None,
            "images_with_a_read": sum(bool(r["reads"]) for r in rs),
            "median_ms": round(statistics.median(r["ms"] for r in rs), 2) if rs else None,
            "median_cpu_ms": round(statistics.median(r["cpu_ms"] for r in rs), 2) if rs else None}


def bench(images: str | None, limit: int, weights: str | None, backend: str, threads: int,
          peer_py: str | None) -> dict:
    from benchmarks.model import load_average, machine

    items, source = image_set(images, limit)
    labels = {str(p): t for p, t in items}
    load_before = load_average()
    rows = [summarise(run_alprd(items, weights, backend, threads, reread), labels) for reread in (True, False)]
    py = peer_python(peer_py)
    peer_note = None
    if py is None:
        peer_note = (f"no peer ran: {PEER} is not set up (python -m benchmarks.peers --setup-peer installs it "
                     f"from PyPI into {peer_dir()})")
    else:
        try:
            rows.append(summarise(run_peer(items, py), labels))
        except (RuntimeError, subprocess.TimeoutExpired, ValueError) as exc:
            peer_note = f"no peer result: {exc}"
    return {"machine": machine(), "images": source, "n_images": len(items), "rows": rows, "peer_note": peer_note,
            "load_average_before": load_before, "load_average_after": load_average()}


def print_table(result: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    m = result["machine"]
    t = Table("system", "images", "labelled", "plates read", "accuracy", "top read acc.", "images with a read",
              "median ms/image", "median CPU ms/image",
              title=f"alprd peers benchmark: {result['n_images']} images ({result['images']}); {m['cpu']} "
                    f"({m['cores']} cores); load average {result['load_average_before']} → {result['load_average_after']}")
    for r in result["rows"]:
        t.add_row(r["system"], str(r["images"]), str(r["labelled"]), str(r["plates_read"]),
                  "-" if r["accuracy"] is None else f"{r['accuracy']:.1%}",
                  "-" if r["top_read_accuracy"] is None else f"{r['top_read_accuracy']:.1%}",
                  str(r["images_with_a_read"]), f"{r['median_ms']:.1f}", f"{r['median_cpu_ms']:.1f}")
    Console(width=200).print(t)
    if result["peer_note"]:
        print(result["peer_note"])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", default=None)
    ap.add_argument("--limit", type=int, default=200)
    ap.add_argument("--weights", default=None, help="alprd weights (default: the shipped ones)")
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--peer-python", default=None, help="a Python with hyperlpr2 and OpenCV 4")
    ap.add_argument("--setup-peer", action="store_true", help=f"create the peer's virtualenv ({PEER} from PyPI)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    if args.setup_peer:
        print(setup_peer())
        return 0
    result = bench(args.images, args.limit, args.weights, args.backend, args.threads, args.peer_python)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        print_table(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
