"""Motion-gating benchmark: N parking cameras (1080p, mostly still) through the real daemon, with the
motion gate off, on, and on with key-frame-only decoding while idle, side by side in one run.

    python -m benchmarks.parking_motion [--cameras 4,8,16] [--seconds 40] [--modes off,on,keyframes] [--json]

The stream (made here with PyAV): a still car park with sensor noise (a few noise frames cycled, so
the encoder and the gate both see a live-like, never identical picture); now and then a car's plate
drives in from the left over 2 s and parks, staying to the end. Every camera plays the file paced at
its own rate, sampled at 10 fps, like a live camera. The pictures are re-encoded as a camera does
(benchmarks.decoding.camera_copy: CABAC, deblocking, a key frame a second, ~2 Mbit/s), so decoding
costs what it costs on a camera's stream. Per row:

- arriving plates read right: of the cars that arrived (per camera), how many got a plate.final of
  the drawn text (rendered plates need trained weights; with built weights the plates are drawn
  and "read right" counts finals, one per arrival);
- frames received / inferred / gated / dropped (stats.json);
- CPU: the daemon's whole process tree (main, worker, decoders), utime+stime from /proc sampled
  every 0.5 s, over the stream's duration, in cores; per camera, and for the idle rows (a still
  video, nothing arrives) per idle camera;
- "holds": every arriving plate read right and under 5 % of the sampled frames dropped;
- CPU-seconds per camera-minute, and the capacity they imply on two idle cores (2 x 60 s of CPU a
  minute, divided by the per-camera cost): on a loaded machine the CPU a camera costs is still
  measured right (it is the work done), while whether N cameras "hold" is not.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

from benchmarks import harness
from benchmarks.procfs import descendants

FPS = 25
CAMERA_FPS = 10.0
MAX_UNSEEN_S = 1.0
DRIVE_S = 2.0


def parking_video(path: Path, size: tuple[int, int], seconds: float, arrivals: list[float],
                  style: str) -> tuple[Path, list[str]]:
    """H.264 MP4 of a still lot where a plate arrives at each time in `arrivals` and parks; returns
    the path and the texts drawn (one per arrival)."""
    import av

    from benchmarks.scenes import (RENDERED_TEXTS, background, draw_plate, paste_plate, plate_quad,
                                   render_plates)
    w, h = size
    bg = background(size, 3)
    rng = np.random.default_rng(5)
    noise = [rng.integers(-2, 3, size=bg.shape, dtype=np.int16) for _ in range(6)]
    if style == "rendered":
        texts = [RENDERED_TEXTS[k % len(RENDERED_TEXTS)] for k in range(len(arrivals))]
        images = render_plates(texts, w, seed=1)
    else:
        texts = [f"A{k % 10}2345" for k in range(len(arrivals))]
    spots = [(0.25 + 0.5 * (k % 2)) * w for k in range(len(arrivals))]  # where each car parks
    rows = [h * (0.45 + 0.2 * ((k // 2) % 2)) for k in range(len(arrivals))]
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=Fraction(FPS))
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.codec_context.gop_size = FPS
        stream.codec_context.options = {"preset": "ultrafast", "tune": "zerolatency", "bf": "0"}
        for i in range(int(seconds * FPS)):
            t = i / FPS
            img = np.clip(bg.astype(np.int16) + noise[i % len(noise)], 0, 255).astype(np.uint8)
            for k, t0 in enumerate(arrivals):
                if t < t0:
                    continue
                x = -100 + (spots[k] + 100) * min(1.0, (t - t0) / DRIVE_S)
                if style == "rendered":
                    ih, iw = images[k].image.shape[:2]
                    paste_plate(img, images[k], int(round(x - iw / 2)), int(round(rows[k] - ih / 2)))
                else:
                    draw_plate(img, plate_quad(size, (x, rows[k])), texts[k])
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="bgr24")):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path, texts


class CpuSampler(threading.Thread):
    """CPU seconds (utime+stime) of a process tree: the latest reading of every pid seen, and what
    each pid is (main, worker, decoder: the children's kernel names, alprd.process.child)."""

    def __init__(self, root: int, interval: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.root, self.interval = root, interval
        self.cpu: dict[int, float] = {}
        self.kind: dict[int, str] = {}
        self.base: dict[int, float] = {}  # readings at mark(): start-up (imports, model load) left out
        self._halt = threading.Event()
        self._tick = os.sysconf("SC_CLK_TCK")

    def run(self) -> None:
        while not self._halt.is_set():
            for pid in [self.root] + descendants(self.root):
                try:
                    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                self.cpu[pid] = (int(fields[11]) + int(fields[12])) / self._tick
                if self.kind.get(pid, "other") == "other":  # a child names itself after it starts
                    try:
                        comm = Path(f"/proc/{pid}/comm").read_text().strip()
                    except OSError:
                        comm = ""
                    self.kind[pid] = ("main" if pid == self.root else "worker" if "worker" in comm
                                      else "decoder" if "decod" in comm else "other")
            self._halt.wait(self.interval)

    def stop(self) -> float:
        self._halt.set()
        self.join(5)
        return sum(self.cpu.values())

    def mark(self, *kinds: str) -> None:
        """From now on, count only what the processes of these kinds spend (their start-up is not
        per-camera work)."""
        for pid, cpu in list(self.cpu.items()):
            if self.kind.get(pid) in kinds:
                self.base[pid] = cpu

    def by_kind(self) -> dict[str, float]:
        out = {"main": 0.0, "worker": 0.0, "decoder": 0.0, "other": 0.0}
        for pid, cpu in self.cpu.items():
            out[self.kind.get(pid, "other")] += cpu - self.base.get(pid, 0.0)
        return {k: round(v, 2) for k, v in out.items()}


MODES = {  # name → (motion gate on, defaults.decode)
    "off": (False, {}),
    "on": (True, {}),
    "keyframes": (True, {"idle_keyframes_after_s": 2.0}),
}


def run_row(video: Path, texts: list[str], n: int, mode: str, seconds: float, weights: str,
            tmp: Path, label: str, exact: bool) -> dict:
    """One daemon run; `exact`: a final counts only with the drawn text (rendered plates)."""
    from benchmarks.model import load_average

    gating, decode = MODES[mode]
    load = load_average()
    state = tmp / f"{label}-{n}-{mode}"
    state.mkdir(parents=True, exist_ok=True)
    cfg = harness.write_config(state / "alprd.yaml", harness.config(
        [{"id": f"cam{i}", "url": str(video), "fps": CAMERA_FPS} for i in range(n)], state_dir=state,
        weights=weights,
        defaults={"ring_slots": 8, "motion": {"enabled": gating}, "decode": decode},
        inference={"backend": "auto", "max_wait_ms": 20},
        tracking={"max_unseen_s": MAX_UNSEEN_S, "min_hits": 2},
        sinks={"stdout": {"enabled": True, "as_json": True}, "jsonl": {"enabled": False}},
        storage={"crops": False}))
    import subprocess

    daemon = harness.Daemon(cfg, state, log_level="WARNING")
    sampler = CpuSampler(daemon.proc.pid)
    sampler.start()
    timeout = max(180.0, seconds * 6)
    marked: dict[str, dict] = {}  # the frame counts when each kind's start-up was left out
    deadline = time.monotonic() + timeout
    code = None
    while time.monotonic() < deadline:
        try:
            code = daemon.proc.wait(0.25)
            break
        except subprocess.TimeoutExpired:
            pass
        frames = (daemon.stats() or {}).get("frames", {})
        if "io" not in marked and frames.get("received", 0) + frames.get("gated", 0) > 0:
            sampler.mark("decoder", "main", "other")  # start-up is over at the first frame
            marked["io"] = frames
        if "worker" not in marked and frames.get("processed", 0) > 0:
            sampler.mark("worker")  # and, for the worker, at the first inferred one
            marked["worker"] = frames
    else:
        daemon.kill()
    cpu_s = sampler.stop()
    out = daemon.stdout
    daemon.close()
    stats = json.loads((state / "stats.json").read_text()) if (state / "stats.json").exists() else {}
    events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    fr = stats.get("frames", {})
    right = 0
    for i in range(n):
        finals = [e.get("plate") for e in events if e.get("kind") == "plate.final" and e.get("camera_id") == f"cam{i}"]
        right += sum(1 for t in texts if t in finals) if exact else min(len(finals), len(texts))
    sampled = fr.get("received", 0) + fr.get("gated", 0)
    dropped = fr.get("dropped", 0) + fr.get("stale", 0) + fr.get("lost", 0)
    arrived = len(texts) * n
    per_min = cpu_s / seconds * 60 / n
    split = sampler.by_kind()
    # What a camera-minute needs, from this run's own per-process costs counted after start-up
    # (stats.json comes every 5 s: what was done before a mark is left out of the divisor too):
    # the decoders' CPU per camera-minute, the worker's CPU per inferred frame times the frames the
    # gate let through (the dropped ones included: a starved worker skips them, a quiet host would
    # infer them), and the main process's CPU per sampled frame. On a loaded host this, not
    # "holds", is the capacity figure.
    io0, w0 = marked.get("io", {}), marked.get("worker", {})
    sampled_after = max(1, sampled - io0.get("received", 0) - io0.get("gated", 0))
    minutes = seconds / 60 * n * sampled_after / max(1, sampled)
    let_through = fr.get("received", 0)
    infer_s = split["worker"] / max(1, fr.get("processed", 0) - w0.get("processed", 0))
    main_s = (split["main"] + split["other"]) / sampled_after
    per_cam_min = let_through / (seconds / 60 * n), sampled / (seconds / 60 * n)
    needed = split["decoder"] / minutes + infer_s * per_cam_min[0] + main_s * per_cam_min[1]
    return {"video": label, "cameras": n, "mode": mode, "gating": gating, "exit_code": code,
            "arrived": arrived, "read_right": right, "sampled": sampled, "inferred": fr.get("processed", 0),
            "gated": fr.get("gated", 0), "dropped": dropped,
            "cpu_cores": round(cpu_s / seconds, 2), "cpu_per_camera": round(cpu_s / seconds / n, 3),
            "cpu_s_per_camera_minute": round(per_min, 1), "cpu_s_by_process": split,
            "decode_s_per_camera_minute": round(split["decoder"] / minutes, 1),
            "infer_ms_per_frame": round(infer_s * 1000, 1), "main_ms_per_frame": round(main_s * 1000, 2),
            "needed_s_per_camera_minute": round(needed, 1), "cameras_on_2_cores": round(120 / needed, 1),
            "load_1min_before": load[0] if load else None,
            "holds": code == 0 and right == arrived and dropped <= 0.05 * max(1, sampled)}


def bench(cameras: list[int], seconds: float, weights: str | None, workdir: Path | None,
          modes: list[str] = list(MODES)) -> dict:
    from benchmarks.model import load_average, machine
    from benchmarks.pipeline import weights_and_plates

    tmp = workdir or Path(tempfile.mkdtemp(prefix="alprd-bench-motion-"))
    tmp.mkdir(parents=True, exist_ok=True)
    wpath, wdesc, style, note = weights_and_plates(weights, "auto", tmp)
    size = (1920, 1080)
    arrivals = [t for t in (3.0, seconds * 0.35, seconds * 0.6) if t + DRIVE_S + 3 < seconds]
    from benchmarks.decoding import camera_copy

    drawn, texts = parking_video(tmp / "parking-x264fast.mp4", size, seconds, arrivals, style)
    busy = camera_copy(drawn, tmp / "parking.mp4", 0)
    drawn_idle, _ = parking_video(tmp / "idle-x264fast.mp4", size, seconds, [], style)
    idle = camera_copy(drawn_idle, tmp / "idle.mp4", 0)
    rows = []
    load_before = load_average()
    for n in cameras:
        for mode in modes:
            rows.append(run_row(busy, texts, n, mode, seconds, wpath, tmp, "parking", style == "rendered"))
    for mode in modes:
        rows.append(run_row(idle, [], max(cameras), mode, seconds, wpath, tmp, "idle", False))
    return {"machine": machine(), "weights": wdesc, "plates": style, "note": note, "seconds": seconds,
            "stream": "1920x1080 H.264 25 fps, sampled at 10 fps per camera, paced",
            "arrivals_per_camera": len(texts), "load_average_before": load_before,
            "load_average_after": load_average(), "rows": rows}


def print_table(result: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    m = result["machine"]
    t = Table("video", "cams", "mode", "arrived", "read right", "sampled", "inferred", "gated", "dropped",
              "CPU cores", "CPU s/camera-min", "decode s/cam-min", "infer ms/frame", "needed s/cam-min",
              "cams on 2 idle cores", "holds", "load",
              title=f"motion gating: {result['stream']}, {result['seconds']:g} s, {m['cpu']} ({m['cores']} cores), "
                    f"weights {result['weights']}, plates {result['plates']}; load {result['load_average_before']}"
                    f" → {result['load_average_after']}")
    for r in result["rows"]:
        t.add_row(r["video"], str(r["cameras"]), r["mode"], str(r["arrived"]),
                  str(r["read_right"]), str(r["sampled"]), str(r["inferred"]), str(r["gated"]), str(r["dropped"]),
                  f"{r['cpu_cores']:.2f}", f"{r['cpu_s_per_camera_minute']:.1f}", f"{r['decode_s_per_camera_minute']:.1f}",
                  f"{r['infer_ms_per_frame']:.1f}", f"{r['needed_s_per_camera_minute']:.1f}",
                  f"{r['cameras_on_2_cores']:.1f}", "yes" if r["holds"] else "no", f"{r['load_1min_before']}")
    Console(width=200).print(t)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cameras", default="4,8,16")
    ap.add_argument("--seconds", type=float, default=40.0)
    ap.add_argument("--weights", default=None)
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--modes", default=",".join(MODES), help="off (no gate), on (gate), keyframes "
                                                              "(gate + key frames only while idle)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    modes = args.modes.split(",")
    if any(m not in MODES for m in modes):
        ap.error(f"--modes: choose from {', '.join(MODES)}")
    result = bench([int(c) for c in args.cameras.split(",")], args.seconds, args.weights, args.workdir, modes)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        print_table(result)
    return 0 if all(r["exit_code"] == 0 for r in result["rows"]) else 1


if __name__ == "__main__":
    sys.exit(main())
