"""ONNX Runtime backend: same interface as TorchBackend, several times faster for these nets on CPU.

Serving runs the ``u8`` graphs (uint8 NHWC in, normalisation inside the graph: see
alprd.model.export); ``detect``/``read`` with float tensors use the ``float`` graphs, exported and
loaded only when first asked for (tests, tools).

Session options: all graph optimisations (BatchNorm folding, NCHWc layout), one inter-op thread
and sequential execution (the graphs are chains; parallel branches would only fight for the same
two cores), the CPU arena on (without it DSNet took ~1.6x the CPU time here: fresh pages every
run), the memory pattern off (it plans and keeps one block per batch size seen: +130 MB for no
measured gain with the daemon's varying batch sizes), and ``spin`` off by default: ORT's worker
threads otherwise busy-wait between kernels, burning the CPU time that the daemon's decoder
processes need. The detector runs at most DET_CHUNK views per call, which bounds the arena (a
512×512 view's stem activations are 8 MB each) without costing time per frame.
"""
from __future__ import annotations

import logging
import os
import tempfile
import threading
from pathlib import Path

import numpy as np

from alprd.model.export import export_net, onnx_name, weights_key

log = logging.getLogger(__name__)
DET_CHUNK = 4


def available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def cache_dir() -> Path:
    """$ALPRD_CACHE, else $XDG_CACHE_HOME/alprd or ~/.cache/alprd; a private temp dir if unwritable."""
    env = os.environ.get("ALPRD_CACHE")
    path = Path(env) if env else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "alprd"
    try:
        path.mkdir(parents=True, exist_ok=True)
        return path
    except OSError:  # read-only home (hardened service)
        return Path(tempfile.mkdtemp(prefix="alprd-onnx-"))


def session_options(threads: int = 0, spin: bool = False):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.enable_mem_pattern = False
    opts.enable_cpu_mem_arena = True
    if threads:
        opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    opts.log_severity_level = 3
    return opts


class OnnxBackend:
    name = "onnxruntime"
    device = "cpu"
    # one for all backends of the process: lanes (alprd.infer.lanes) must not export the same file at once
    _lock = threading.Lock()

    def __init__(self, dsnet, rsnet, det_size: int = 512, threads: int = 0, spin: bool = False):
        import onnxruntime  # noqa: F401  (fail here, not at the first frame)

        self._nets = {"dsnet": dsnet, "rsnet": rsnet}
        self.det_size = det_size
        self.threads = threads
        self.spin = spin
        self.dir = cache_dir() / weights_key(dsnet, rsnet, det_size)
        self._sessions: dict[tuple, object] = {}
        # the serving graphs now, so a broken export fails at start-up, not at the first frame
        self._session("dsnet", "u8")
        self._session("rsnet", "u8")

    def _session(self, net: str, form: str, view: tuple[int, int] | None = None):
        """The net's session; DSNet's for a view shape other than the square one is exported the
        first time such a view comes (a few seconds, once: the file stays in the cache)."""
        if view is not None and view == (self.det_size, self.det_size):
            view = None
        key = (net, form, view)
        s = self._sessions.get(key)
        if s is not None:
            return s
        import onnxruntime as ort

        with self._lock:
            s = self._sessions.get(key)
            if s is None:
                path = self.dir / onnx_name(net, form, view)
                if not path.exists():
                    log.info("exporting %s (%s input%s) to ONNX in %s", net, form,
                             f", {view[0]}x{view[1]} view" if view else "", self.dir)
                    export_net(net, self._nets[net], self.dir, self.det_size, form, view)
                s = ort.InferenceSession(str(path), session_options(self.threads, self.spin),
                                         providers=["CPUExecutionProvider"])
                self._sessions[key] = s
        return s

    # -- the serving path: uint8 NHWC batches as the letterbox and the warp write them
    def detect_u8(self, images: np.ndarray) -> np.ndarray:
        """N×H×W×3 uint8 BGR → N×12×H/16×W/16 (scores already sigmoid)."""
        sess = self._session("dsnet", "u8", tuple(images.shape[1:3]))
        images = _u8(images)
        if len(images) <= DET_CHUNK:
            return sess.run(None, {"images": images})[0]
        return np.concatenate([sess.run(None, {"images": images[i:i + DET_CHUNK]})[0]
                               for i in range(0, len(images), DET_CHUNK)])

    def read_u8(self, plates: np.ndarray) -> np.ndarray:
        """N×48×144×3 uint8 BGR → N×T×C logits."""
        return self._session("rsnet", "u8").run(None, {"plates": _u8(plates)})[0]

    # -- the training form: N×3×H×W float normalised tensors (numpy or torch)
    def detect(self, x) -> np.ndarray:
        x = _np(x)
        return self._session("dsnet", "float", tuple(x.shape[2:4])).run(None, {"images": x})[0]

    def read(self, x) -> np.ndarray:
        return self._session("rsnet", "float").run(None, {"plates": _np(x)})[0]


def _np(x) -> np.ndarray:
    return np.ascontiguousarray(x.numpy() if hasattr(x, "numpy") else x, dtype=np.float32)


def _u8(x: np.ndarray) -> np.ndarray:
    if x.dtype != np.uint8:
        raise ValueError(f"expected uint8 images, got {x.dtype}")
    return np.ascontiguousarray(x)
