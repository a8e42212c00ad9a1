"""Model benchmark: DSNet, RSNet and the whole cascade per backend and batch size, side by side.

    python -m benchmarks.model [--batches 1,4,16] [--repeats 20] [--baseline] [--json]

Rows: DSNet (per view), RSNet (per plate), and the serving cascade (Recognizer.recognize: letterbox,
DSNet, decoding, NMS, warp, RSNet, CTC) on frames of each --frames size with one plate in view.
Columns: median wall ms per frame, frames/s, median process CPU ms per frame (all threads: robust
to other load on the machine, unlike wall time), parameters, GFLOPs (FLOPs = 2 × multiply-adds).
Every variant of one batch size is timed in turns (round-robin), so background load weighs on
each alike; the load average is printed with the table.

"cascade" is the served default: each frame of the batch a camera of its own (streams, one set per
frame size), so a frame over 1200 px gets one full-resolution tile of the second look for distant
plates (alprd.cascade.zoom; the 512x512 frame gets none), and a box whose read stays unreportable
after every extra look is read once between full looks (alprd.cascade.settled), as in a camera. "cascade -zoom" is the cascade before issue #24:
no second look, no closer look at small plates' corners (alprd.cascade.refine), no low-contrast
stretch (alprd.cascade.photometric), no deconvolution of smeared plates (alprd.model.unsmear),
timed in the same turns: the cost of what issue #24 added is their ratio, printed under the table.

--baseline adds the first implementation of the cascade ("v1": per-frame letterbox canvases,
np.stack, float normalisation in numpy, float ONNX graphs traced straight from the modules,
OpenCV NMS per pair, per-step CTC) for the side-by-side comparison.

Weights: --weights FILE, else the shipped ones if trained, else built ones (benchmarks.rigged) on
which the cascade finds the rendered plate (about 20 candidate cells → one read), as a trained
net would; random weights would find nothing and skip the warp and the read. "agree" says whether
the backend's reads (text and corners within 1 px) equal the torch backend's on the same frames.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import alprd  # noqa: F401  (sets OMP_WAIT_POLICY before torch loads: see alprd/__init__.py)
import numpy as np
import torch


def gflops(net, shape) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        net(torch.zeros(*shape))
    return fc.get_total_flops() / 1e9 / shape[0]


def time_round_robin(fns: dict, repeats: int, warmup: int = 2) -> dict[str, tuple[float, float]]:
    """{label: fn} → {label: (median wall s, median process CPU s)}, the fns run in turns."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    wall = {k: [] for k in fns}
    cpu = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            c0, t0 = time.process_time(), time.perf_counter()
            fn()
            wall[k].append(time.perf_counter() - t0)
            cpu[k].append(time.process_time() - c0)
    return {k: (statistics.median(wall[k]), statistics.median(cpu[k])) for k in fns}


def machine() -> dict:
    from alprd.backends.select import _cpu_model

    info = {"cpu": _cpu_model(), "cores": os.cpu_count(), "python": platform.python_version(),
            "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY")}
    try:
        import onnxruntime

        info["onnxruntime"] = onnxruntime.__version__
    except ImportError:
        pass
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def resolve_weights(weights: str | None, tmp: Path) -> tuple[str, str]:
    """(path, what) for the benchmark's weights."""
    from alprd.model.weights import build_models, default_weights_path

    if weights:
        return weights, weights
    if default_weights_path().exists() and build_models(None)[2].get("trained"):
        return str(default_weights_path()), "shipped (trained)"
    from benchmarks.rigged import make_bright_plate_weights

    return str(make_bright_plate_weights(tmp / "bright-plate.pt")), "built (benchmarks.rigged; shipped weights untrained)"


# ---------------------------------------------------------------------------------------------
# The first implementation, kept here as the baseline of the comparison


class CascadeV1:
    """The cascade as first written: per-frame geometry.letterbox canvases and np.stack, float
    normalisation on the host, float graphs, geometry.decode_map / nms_quads per frame, one
    warp_plate per plate, decode.ctc_greedy_batch."""

    def __init__(self, rec, dsnet, rsnet, tmp: Path):
        self.rec = rec
        if rec.backend.name == "onnxruntime":
            self.detect_f, self.read_f = _plain_ort(dsnet, rsnet, rec.det_size, tmp)
        else:
            self.detect_f, self.read_f = rec.backend.detect, rec.backend.read

    def __call__(self, frames):
        from alprd.model import geometry
        from alprd.model.decode import ctc_greedy_batch

        rec = self.rec
        views, boxes = zip(*(geometry.letterbox(f, rec.det_size) for f in frames))
        out = self.detect_f(geometry.normalize(np.stack(views)))
        dets = []
        for o, lb in zip(out, boxes):
            corners, conf = geometry.decode_map(o, rec.det_threshold, rec.z)
            keep = geometry.nms_quads(corners, conf, rec.nms_threshold)
            dets.append((lb.to_frame(corners[keep]), conf[keep]))
        crops = [geometry.warp_plate(f, c) for f, (cs, _) in zip(frames, dets) for c in cs]
        texts = ctc_greedy_batch(self.read_f(geometry.normalize(np.stack(crops)))) if crops else []
        return dets, texts


def _plain_ort(dsnet, rsnet, det_size: int, tmp: Path):
    """Float graphs traced straight from the modules, with v1's session options."""
    import warnings

    import onnxruntime as ort

    from alprd.model.rsnet import INPUT_SIZE

    w, h = INPUT_SIZE
    sessions = []
    for net, shape, name in ((dsnet, (1, 3, det_size, det_size), "v1_dsnet"), (rsnet, (1, 3, h, w), "v1_rsnet")):
        path = tmp / f"{name}.onnx"
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(net.eval(), (torch.zeros(*shape),), str(path), input_names=["x"], output_names=["y"],
                              dynamic_axes={"x": {0: "b"}, "y": {0: "b"}}, opset_version=17, dynamo=False)
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.inter_op_num_threads = 1
        sessions.append(ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"]))
    run = [lambda x, s=s: s.run(None, {"x": np.ascontiguousarray(x.numpy(), np.float32)})[0] for s in sessions]
    return run[0], run[1]


# ---------------------------------------------------------------------------------------------


def _reads_agree(a, b, tol: float = 1.0) -> bool:
    if len(a) != len(b):
        return False
    for fa, fb in zip(a, b):
        if [r.text for r in fa] != [r.text for r in fb]:
            return False
        if fa and np.abs(np.array([r.corners for r in fa]) - np.array([r.corners for r in fb])).max() > tol:
            return False
    return True


def run(batches: list[int], repeats: int, backends: list[str], det_size: int, device: str,
        frame_sizes: list[tuple[int, int]], weights: str | None = None, baseline: bool = False,
        threads: int = 0) -> dict:
    from alprd.backends.prepost import Letterboxer
    from alprd.cascade import Recognizer
    from alprd.model.rsnet import INPUT_SIZE
    from alprd.model.weights import build_models
    from alprd.model.geometry import view_shape
    from benchmarks.scenes import frame_with_plate

    tmp = Path(tempfile.mkdtemp(prefix="alprd-bench-model-"))
    wpath, wdesc = resolve_weights(weights, tmp)
    dsnet, rsnet, _ = build_models(wpath)
    params = {"dsnet": sum(p.numel() for p in dsnet.parameters()), "rsnet": sum(p.numel() for p in rsnet.parameters())}
    flops = {"dsnet": gflops(dsnet, (1, 3, det_size, det_size)), "rsnet": gflops(rsnet, (1, 3, INPUT_SIZE[1], INPUT_SIZE[0]))}
    params["cascade"], flops["cascade"] = params["dsnet"] + params["rsnet"], flops["dsnet"] + flops["rsnet"]
    frames = {f"{w}x{h}": frame_with_plate((w, h))[0] for w, h in frame_sizes}
    # a cascade row's detector runs on the frame's tight view (geometry.view_shape), not a square
    frame_flops = {f"{w}x{h}": gflops(dsnet, (1, 3, *view_shape(w, h, det_size))) + flops["rsnet"]
                   for w, h in frame_sizes}

    from alprd.cascade.refine import RefinePolicy
    from alprd.cascade.zoom import ZoomPolicy

    pol = ZoomPolicy()
    tile_flops = {f"{w}x{h}": gflops(dsnet, (1, 3, pol.tile_view[1], pol.tile_view[0])) * pol.tiles_per_frame
                  for w, h in frame_sizes if max(w, h) >= pol.min_long_side}   # + a follow window per followed plate
    recs, v1s, plates_per_frame, no_zoom = {}, {}, {}, {}
    for name in backends:
        dev = device if name == "torch" else "cpu"
        recs[name] = Recognizer(wpath, backend=name, device=dev, det_size=det_size, threads=threads)
        no_zoom[name] = Recognizer(wpath, backend=name, device=dev, det_size=det_size, threads=threads,
                                   zoom=ZoomPolicy(tiles_per_frame=0), refine=RefinePolicy(max_view_width=0),
                                   stretch_below=0, unsmear=False)
        if baseline:
            d, r, _ = build_models(wpath)
            v1s[name] = CascadeV1(recs[name], d, r, tmp)
    agree = {}
    for name, rec in recs.items():
        outs = {k: rec.recognize([f]) for k, f in frames.items()}
        plates_per_frame[name] = {k: len(o[0]) for k, o in outs.items()}
        agree[name] = all(_reads_agree(outs[k], recs["torch"].recognize([f])) for k, f in frames.items()) \
            if "torch" in recs else None
    rows = []
    load_before = load_average()
    for b in batches:
        fns = {}
        for name, rec in recs.items():
            be = rec.backend
            view = np.ascontiguousarray(np.stack([Letterboxer(det_size, tight=True)([frames[next(iter(frames))]])[0][0]] * b))
            plates = np.zeros((b, INPUT_SIZE[1], INPUT_SIZE[0], 3), np.uint8) + 128
            fns[(name, "dsnet", "")] = lambda be=be, view=view: be.detect_u8(view)
            fns[(name, "rsnet", "")] = lambda be=be, plates=plates: be.read_u8(plates)
            for k, f in frames.items():
                batch = [f] * b
                cams = [f"{k}-cam{i}" for i in range(b)]   # a camera sees its own frames, one size
                fns[(name, "cascade", k)] = lambda rec=rec, batch=batch, cams=cams: rec.recognize(batch, cams)
                fns[(name, "cascade -zoom", k)] = lambda rec=no_zoom[name], batch=batch: rec.recognize(batch)
                if name in v1s:
                    fns[(name, "cascade v1", k)] = lambda v1=v1s[name], batch=batch: v1(batch)
        res = time_round_robin(fns, repeats)
        for (name, stage, fsize), (wall, cpu) in res.items():
            net = stage.split()[0]
            rows.append({
                "backend": name, "stage": stage, "frame": fsize or ("plates 144x48" if net == "rsnet" else f"view {det_size}"),
                "batch": b, "ms_per_frame": round(wall / b * 1000, 3), "fps": round(b / wall, 1),
                "cpu_ms_per_frame": round(cpu / b * 1000, 3),
                "params": params[net], "gflops": round(frame_flops[fsize] + (tile_flops.get(fsize, 0.0) if stage == "cascade" else 0.0)
                                                       if net == "cascade" else flops[net], 3),
                "plates_per_frame": plates_per_frame[name].get(fsize) if stage == "cascade" else None,
                "agrees_with_torch": agree[name] if stage == "cascade" else None,
            })
    return {"machine": machine(), "device": device, "det_size": det_size, "weights": wdesc,
            "load_average_before": load_before, "load_average_after": load_average(), "rows": rows}


def print_table(result: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    m = result["machine"]
    t = Table("backend", "stage", "input", "batch", "ms/frame", "frames/s", "CPU ms/frame", "params", "GFLOPs",
              "plates", "agree",
              title=f"alprd model benchmark: {m['cpu']} ({m['cores']} cores), device {result['device']}, "
                    f"{result['det_size']}px view; load average {result['load_average_before']} → "
                    f"{result['load_average_after']}; weights: {result['weights']}")
    for r in result["rows"]:
        t.add_row(r["backend"], r["stage"], r["frame"], str(r["batch"]), f"{r['ms_per_frame']:.2f}", f"{r['fps']:.1f}",
                  f"{r['cpu_ms_per_frame']:.2f}", f"{r['params']:,}", f"{r['gflops']:.3f}",
                  "" if r["plates_per_frame"] is None else str(r["plates_per_frame"]),
                  "" if r["agrees_with_torch"] is None else ("yes" if r["agrees_with_torch"] else "NO"))
    Console(width=200).print(t)
    for r in result["rows"]:
        if r["stage"] != "cascade":
            continue
        base = next((q for q in result["rows"] if q["stage"] == "cascade -zoom" and q["backend"] == r["backend"]
                     and q["frame"] == r["frame"] and q["batch"] == r["batch"]), None)
        if base and base["cpu_ms_per_frame"]:
            print(f"second look's cost: {r['backend']} {r['frame']} batch {r['batch']}: CPU "
                  f"{r['cpu_ms_per_frame'] / base['cpu_ms_per_frame']:.2f}x, wall "
                  f"{r['ms_per_frame'] / base['ms_per_frame']:.2f}x the cascade without it")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", default=None, help="comma-separated (default 1,4,16; 1,4,16,64 on CUDA)")
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--backends", default="torch,onnxruntime")
    ap.add_argument("--det-size", type=int, default=512)
    ap.add_argument("--device", default="cpu", help="device of the torch backend: cpu, cuda, auto")
    ap.add_argument("--frames", default="512x512,1920x1080", help="frame sizes of the cascade rows")
    ap.add_argument("--weights", default=None)
    ap.add_argument("--threads", type=int, default=0, help="torch / ORT intra-op threads (0: library default)")
    ap.add_argument("--baseline", action="store_true", help="add the first implementation's cascade rows")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    batches = args.batches or ("1,4,16,64" if device.startswith("cuda") else "1,4,16")
    backends = [b for b in args.backends.split(",") if b]
    if device.startswith("cuda") and "onnxruntime" in backends and "torch" in backends:
        pass  # ORT stays on the CPU: a CPU-vs-GPU row pair, labelled by the device column
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.frames.split(",") if s]
    result = run([int(b) for b in batches.split(",")], args.repeats, backends, args.det_size, device,
                 sizes, args.weights, args.baseline, args.threads)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        print_table(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
