"""Choosing the inference backend: `inference.backend: auto | torch | onnxruntime`.

On CUDA `auto` means torch: the onnxruntime package alprd installs is the CPU build, and the torch
path there has fp16, channels_last and on-device pre/post-processing.

On the CPU `auto` measures instead of assuming: the first time a given (architecture, detector
size, thread count, library versions, CPU model) meets this machine, both backends run one
frame's work (DSNet on a blank view, RSNet on two blank plates) a few times, interleaved so that
other load on the machine hits both alike; the faster one is used and the choice is cached in
<cache dir>/backend-choice.json, so later starts only read it. The key holds the architecture
(parameter names and shapes), not the weights' values: speed does not depend on them, and
untrained (random) nets would otherwise never hit the cache.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import time

import numpy as np

log = logging.getLogger(__name__)

CHOICE_FILE = "backend-choice.json"
NAMES = ("auto", "torch", "onnxruntime")


def make_backend(name: str, dsnet, rsnet, device: str, det_size: int, threads: int):
    from alprd.backends import onnx_backend
    from alprd.backends.torch_backend import TorchBackend, pick_device

    if name not in NAMES:
        raise ValueError(f"unknown inference backend {name!r} (expected one of {', '.join(NAMES)})")
    on_cpu = pick_device(device).type == "cpu"
    if not on_cpu:
        if name == "onnxruntime":
            raise ValueError("the onnxruntime backend runs on the CPU; use backend torch (or auto) for CUDA")
        return TorchBackend(dsnet, rsnet, device)
    if name == "torch" or (name == "auto" and not onnx_backend.available()):
        return TorchBackend(dsnet, rsnet, "cpu")
    if name == "onnxruntime":
        return onnx_backend.OnnxBackend(dsnet, rsnet, det_size, threads)
    return _auto_cpu(dsnet, rsnet, det_size, threads)


def _auto_cpu(dsnet, rsnet, det_size: int, threads: int):
    from alprd.backends import onnx_backend
    from alprd.backends.torch_backend import TorchBackend

    path = onnx_backend.cache_dir() / CHOICE_FILE
    key = choice_key(dsnet, rsnet, det_size, threads)
    cached = _read(path).get(key)
    if cached and cached.get("choice") in ("torch", "onnxruntime"):
        log.debug("backend auto: %s (measured %s)", cached["choice"], cached.get("measured_at"))
        if cached["choice"] == "torch":
            return TorchBackend(dsnet, rsnet, "cpu")
        return onnx_backend.OnnxBackend(dsnet, rsnet, det_size, threads)
    candidates = {"onnxruntime": onnx_backend.OnnxBackend(dsnet, rsnet, det_size, threads),
                  "torch": TorchBackend(dsnet, rsnet, "cpu")}
    ms = measure(candidates, det_size)
    choice = min(ms, key=ms.get)
    log.info("backend auto: %s on this CPU (one frame's work: %s)", choice,
             ", ".join(f"{k} {v:.1f} ms" for k, v in ms.items()))
    record = {"choice": choice, "ms": {k: round(v, 2) for k, v in ms.items()},
              "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S"), "det_size": det_size,
              "threads": threads, "load": _load()}
    data = _read(path)
    data[key] = record
    _write(path, data)
    return candidates[choice]


def measure(backends: dict, det_size: int, rounds: int = 3) -> dict[str, float]:
    """Best wall time (ms) per backend of DSNet on one blank view + RSNet on two blank plates,
    the backends taking turns so that background load weighs on each alike."""
    view = np.zeros((1, det_size, det_size, 3), np.uint8)
    plates = np.zeros((2, 48, 144, 3), np.uint8)

    def once(be) -> float:
        t0 = time.perf_counter()
        be.detect_u8(view)
        be.read_u8(plates)
        return time.perf_counter() - t0

    for be in backends.values():
        once(be)   # warm-up: lazy allocations, ORT's first-run planning
    best = {k: float("inf") for k in backends}
    for _ in range(rounds):
        for k, be in backends.items():
            best[k] = min(best[k], once(be) * 1000)
    return best


def choice_key(dsnet, rsnet, det_size: int, threads: int) -> str:
    import torch

    from alprd.model.export import EXPORT_VERSION

    try:
        import onnxruntime

        ort_version = onnxruntime.__version__
    except ImportError:
        ort_version = "none"
    h = hashlib.sha256()
    for part in (f"export{EXPORT_VERSION}", f"det{det_size}", f"threads{threads}", f"torch{torch.__version__}",
                 f"ort{ort_version}", _cpu_model(), f"cpus{os.cpu_count()}"):
        h.update(part.encode())
    for net in (dsnet, rsnet):
        for name, t in net.state_dict().items():
            h.update(f"{name}{tuple(t.shape)}".encode())
    return h.hexdigest()[:16]


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _load() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def _read(path) -> dict:
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _write(path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        os.replace(tmp, path)
    except OSError as exc:
        log.debug("cannot cache the backend choice in %s: %s", path, exc)
