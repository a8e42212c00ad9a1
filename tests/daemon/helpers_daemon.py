"""Helpers for the daemon's tests: a rigged weights file, configs, running `alprd` for real.

The rigged weights make what the daemon sees a test's choice, not a model's: they are built, not
trained. DSNet's head
outputs a constant "plate here" map with a huge quad (NMS keeps exactly one per frame, at a fixed
place), and RSNet's classifier a constant "A". Every frame therefore holds one plate "A" at the
same spot: one stationary track per camera, whose life the tests control by when frames flow.
They go through the real loader, the real Recognizer and the real worker process. Configs and
launching are benchmarks.harness's (shared with the benchmarks).
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from benchmarks import harness
from benchmarks.harness import alprd_cmd, env  # noqa: F401  (the tests' names for them)

RIGGED_TEXT = "A"
PYTHON = sys.executable


def make_rigged_weights(path: str | Path, half: float = 1000.0) -> Path:
    import torch

    from alprd.model import geometry
    from alprd.model.charset import CHARS
    from alprd.model.dsnet import DSNet
    from alprd.model.rsnet import RSNet
    from alprd.model.weights import save_weights

    torch.manual_seed(0)
    ds, rs = DSNet(), RSNet()
    quad = np.array([[-half, -half], [half, -half], [half, half], [-half, half]], np.float32)
    t = geometry.encode_offsets(quad, np.zeros(2, np.float32))
    head = ds.head
    last = rs.classifier[-1]
    assert isinstance(head, torch.nn.Conv2d) and isinstance(last, torch.nn.Conv2d), \
        "the model's head layers moved: update make_rigged_weights"
    with torch.no_grad():
        head.weight.zero_()
        head.bias[:4] = 8.0  # sigmoid(8) ≈ 0.9997: every cell is sure
        head.bias[4:12] = torch.from_numpy(t.astype(np.float32))
        last.weight.zero_()
        last.bias.zero_()
        last.bias[CHARS.index(RIGGED_TEXT) + 1] = 12.0
    path = Path(path)
    save_weights(path, ds, rs, meta={"rigged": True})
    return path


def write_config(path: Path, cameras: list[dict], *, state_dir: Path, weights: Path | None = None,
                 tracking: dict | None = None, inference: dict | None = None,
                 defaults: dict | None = None, stdout_json: bool = True) -> Path:
    return harness.write_config(path, harness.config(
        cameras, state_dir=state_dir, weights=weights,
        # ring_slots 64: files play at their own rate whatever the worker does; 8 slots (the
        # default) were overwritten on a loaded machine before the worker came (a plate lost)
        defaults={"fps": 10, "reconnect_min_s": 0.2, "reconnect_max_s": 1.0,
                  "open_timeout_s": 3, "read_timeout_s": 3, "ring_slots": 64, **(defaults or {})},
        # max_queue_ms 0: every frame is processed however loaded the machine (the tests count
        # plates; skipping late frames is tests/daemon/test_daemon_dispatch.py's subject)
        inference={"backend": "torch", "threads": 1, "max_batch": 4, "max_wait_ms": 20,
                   "max_queue_ms": 0, **(inference or {})},
        tracking={"max_unseen_s": 1.0, **(tracking or {})},
        sinks={"stdout": {"enabled": True, "as_json": stdout_json}}))


# Every wait below is for an event (a line, an exit, a file); its deadline only turns a hang into
# a failure. A loaded machine (CI beside a training job, one core kept busy) made 60-90 s
# deadlines fail tests that pass alone, so none is shorter than this: a working test never waits
# for it, a hung one fails a few minutes later.
HANG_GUARD_FLOOR_S = 300.0


def hang_guard(timeout: float) -> float:
    return max(float(timeout), HANG_GUARD_FLOOR_S)


def run_alprd(*args: str, timeout: float = 60, cwd: Path | None = None,
              extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return harness.run_alprd(*args, timeout=hang_guard(timeout), cwd=cwd, extra_env=extra_env)


class DaemonProcess(harness.Daemon):
    """`alprd run` at log level INFO (benchmarks.harness.Daemon), every wait at least the floor."""

    def __init__(self, config: Path, workdir: Path, *args: str, extra_env: dict[str, str] | None = None) -> None:
        super().__init__(config, workdir, *args, extra_env=extra_env)

    def wait_for(self, predicate, timeout: float, what: str, interval: float = 0.1):
        return super().wait_for(predicate, hang_guard(timeout), what, interval)

    def wait(self, timeout: float) -> int:
        return super().wait(hang_guard(timeout))


def events(jsonl: Path, kind: str | None = None) -> list[dict]:
    if not jsonl.exists():
        return []
    out = []
    for line in jsonl.read_text(encoding="utf-8").splitlines():
        if line.strip():
            e = json.loads(line)
            if kind is None or e["kind"] == kind:
                out.append(e)
    return out


def stats(state_dir: Path) -> dict:
    return json.loads((state_dir / "stats.json").read_text())


def children_named(parent_pid: int, comm: str) -> list[int]:
    """PIDs of direct children of parent_pid whose kernel comm name is `comm`."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            name = (entry / "comm").read_text().strip()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == parent_pid and name == comm:
            out.append(int(entry.name))
    return out


def moving_square_frame(size: tuple[int, int]):
    """A plain moving-square background renderer for make_video(draw=...)."""
    import cv2

    w, h = size

    def draw(i: int) -> np.ndarray:
        img = np.full((h, w, 3), 90, np.uint8)
        x = (i * 5) % (w - 30)
        cv2.rectangle(img, (x, h // 3), (x + 30, h // 3 + 30), (0, 200, 255), -1)
        return img

    return draw
