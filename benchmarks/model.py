"""Model benchmark: DSNet, RSNet and the whole cascade per backend and batch size, side by side.

    python -m benchmarks.model [--batches 1,4] [--repeats 20] [--json]

Prints median ms per frame, frames/s, parameters and GFLOPs. The cascade row runs the serving
Recognizer on a frame with a rendered plate so the warp + read stage is included.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import torch


def gflops(net, shape) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        net(torch.zeros(*shape))
    return fc.get_total_flops() / 1e9 / shape[0]


def timeit(fn, repeats: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def scene_with_plate(size=(1280, 720)) -> np.ndarray:
    import cv2

    w, h = size
    img = np.full((h, w, 3), 90, np.uint8)
    cv2.rectangle(img, (w // 2 - 80, h // 2 - 25), (w // 2 + 80, h // 2 + 25), (160, 60, 20), -1)
    cv2.putText(img, "A12345", (w // 2 - 70, h // 2 + 15), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (255, 255, 255), 3)
    return img


def run(batches: list[int], repeats: int, backends: list[str], det_size: int, device: str) -> list[dict]:
    from alprd.model.recognizer import Recognizer
    from alprd.model.rsnet import INPUT_SIZE

    rows = []
    frame = scene_with_plate()
    for backend in backends:
        rec = Recognizer(backend=backend, device=device, det_size=det_size)
        be = rec.backend
        dsnet, rsnet = rec_nets(rec)
        params = {"dsnet": sum(p.numel() for p in dsnet.parameters()), "rsnet": sum(p.numel() for p in rsnet.parameters())}
        flops = {"dsnet": gflops(dsnet.cpu(), (1, 3, det_size, det_size)), "rsnet": gflops(rsnet.cpu(), (1, 3, INPUT_SIZE[1], INPUT_SIZE[0]))}
        if backend == "torch":
            rec = Recognizer(backend=backend, device=device, det_size=det_size)   # nets back on device
            be = rec.backend
        for b in batches:
            x = torch.randn(b, 3, det_size, det_size)
            p = torch.randn(b, 3, INPUT_SIZE[1], INPUT_SIZE[0])
            for name, fn in (("dsnet", lambda: be.detect(x)), ("rsnet", lambda: be.read(p)),
                             ("cascade", lambda: rec.recognize([frame] * b))):
                t = timeit(fn, repeats)
                rows.append({
                    "backend": be.name, "net": name, "batch": b, "ms_per_frame": round(t / b * 1000, 2),
                    "fps": round(b / t, 1), "params": params.get(name, params["dsnet"] + params["rsnet"]),
                    "gflops": round(flops.get(name, flops["dsnet"] + flops["rsnet"]), 3),
                })
    return rows


def rec_nets(rec):
    be = rec.backend
    if hasattr(be, "dsnet"):
        return be.dsnet, be.rsnet
    from alprd.model.weights import build_models

    d, r, _ = build_models(rec.meta.get("path"))
    return d, r


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", default="1,4")
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--backends", default="torch,onnxruntime")
    ap.add_argument("--det-size", type=int, default=512)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: default)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = run([int(b) for b in args.batches.split(",")], args.repeats, args.backends.split(","),
               args.det_size, args.device)
    if args.json:
        print(json.dumps({"device": args.device, "torch_threads": torch.get_num_threads(), "rows": rows}))
        return 0
    from rich.console import Console
    from rich.table import Table

    t = Table("backend", "net", "batch", "ms/frame", "frames/s", "params", "GFLOPs",
              title=f"alprd model benchmark ({args.device}, {torch.get_num_threads()} torch threads, {args.det_size}px view)")
    for r in rows:
        t.add_row(r["backend"], r["net"], str(r["batch"]), f"{r['ms_per_frame']:.2f}", f"{r['fps']:.1f}",
                  f"{r['params']:,}", f"{r['gflops']:.3f}")
    Console().print(t)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
