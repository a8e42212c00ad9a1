"""Pipeline benchmark: N cameras of a 1080p H.264 stream through the real daemon, against decoding
the same files with PyAV alone, in one run.

    python -m benchmarks.pipeline [--cameras 1,2,4] [--seconds 8] [--modes flat,paced] [--json]

The test stream is made here with PyAV (benchmarks.scenes.crossing_video): a dark street, light
plates crossing it one after another. Each camera opens the same file.

For each camera count:
- decode-only: N processes decode the file with PyAV the way the daemon's decoders do (threaded
  decoding, frames converted to BGR arrays), all at once; their total frames/s is the ceiling.
- ``flat``: ``alprd run --no-pace`` with every frame sampled (camera fps = the file's): processed
  frames/s (stats.json: processed / time since the model was loaded), its ratio to decode-only, and
  frames dropped (waited too long while inference was behind) or stale (overwritten in a ring).
- ``paced``: ``alprd run`` with the files played at their own rate and --paced-fps frames a second
  sampled per camera, like live cameras: the same counters, plus event latencies, measured on the
  wall clock as the events arrive on the daemon's stdout (a file source's frame timestamps are wall
  time when paced): frame → ``plate.preview`` (arrival − the track's last read, i.e. the frame that
  confirmed it) and plate leaves view → ``plate.final`` (arrival − the plate's last read; includes
  tracking.max_unseen_s, the wait that decides that a plate has gone, shown apart).
- peak RSS of every process (the daemon's main process, worker and decoders; the decode-only
  processes), sampled from /proc every 0.2 s.

Weights: --weights FILE, else the shipped ones if trained, else built ones (benchmarks.rigged) that
find the light plates, so tracks, previews and finals happen as with a trained model.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

MAX_UNSEEN_S = 1.0


# ---------------------------------------------------------------------------------------------
# decode-only


def _decode_file(path: str, out) -> None:
    import resource

    import av

    t0 = time.perf_counter()
    n = 0
    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_count = 2     # as alprd.stream.source does
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            frame.to_ndarray(format="bgr24")
            n += 1
    out.put((n, time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024))


def decode_only(path: Path, n: int) -> dict:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_decode_file, args=(str(path), q)) for _ in range(n)]
    t0 = time.perf_counter()
    for p in procs:
        p.start()
    got = [q.get(timeout=600) for _ in procs]
    wall = time.perf_counter() - t0
    for p in procs:
        p.join(30)
    frames = sum(g[0] for g in got)
    # from the first start to the last end: process start-up (spawn, import av) included, as
    # the daemon's figure includes its decoders' start
    return {"frames": frames, "wall_s": round(wall, 3), "fps": round(frames / wall, 1),
            "fps_per_camera": round(frames / wall / n, 1),
            "decode_s_per_process": [round(g[1], 3) for g in got],
            "peak_rss_mb": {f"decoder {i}": round(g[2] / 2**20, 1) for i, g in enumerate(got)}}


# ---------------------------------------------------------------------------------------------
# the daemon


class RssSampler(threading.Thread):
    """Peak RSS per process of a process tree, from /proc (Linux)."""

    def __init__(self, root_pid: int, interval: float = 0.2):
        super().__init__(daemon=True)
        self.root = root_pid
        self.interval = interval
        self.peak: dict[int, tuple[str, int]] = {}
        self.samples: dict[int, list[int]] = {}
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            for pid in self._tree():
                rss = _rss(pid)
                if rss is None:
                    continue
                name = self.peak.get(pid, ("",))[0]
                if not name.startswith("alprd"):       # children set their title after start-up
                    name = _name(pid, pid == self.root)
                if rss > self.peak.get(pid, ("", 0))[1]:
                    self.peak[pid] = (name, rss)
                self.samples.setdefault(pid, []).append(rss)
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join(5)

    def _tree(self) -> list[int]:
        children: dict[int, list[int]] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as f:
                        ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                except (OSError, ValueError, IndexError):
                    continue
                children.setdefault(ppid, []).append(int(entry))
        out, todo = [], [self.root]
        while todo:
            pid = todo.pop()
            out.append(pid)
            todo += children.get(pid, [])
        return out

    def report(self) -> dict[str, dict]:
        rows = {}
        for pid, (name, peak) in sorted(self.peak.items(), key=lambda kv: kv[1][0]):
            s = self.samples.get(pid, [])
            half = len(s) // 2
            rows[f"{name} [{pid}]"] = {
                "peak_mb": round(peak / 2**20, 1),
                # steady memory: the peak of the second half of the run against the first half's
                "first_half_peak_mb": round(max(s[:half]) / 2**20, 1) if half else None,
                "second_half_peak_mb": round(max(s[half:]) / 2**20, 1) if half else None,
            }
        return rows


def _rss(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _name(pid: int, root: bool) -> str:
    if root:
        return "alprd: main"
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"
    return comm if comm.startswith("alprd") else f"{comm} (helper)"


def write_config(path: Path, video: Path, n: int, *, state: Path, weights: str | None, fps: float,
                 backend: str, max_batch: int, threads: int) -> Path:
    cfg = {
        "cameras": [{"id": f"cam{i}", "url": str(video), "fps": fps} for i in range(n)],
        "defaults": {"ring_slots": 8},
        "inference": {"device": "cpu", "backend": backend, "max_batch": max_batch, "max_wait_ms": 20,
                      "threads": threads, **({"weights": weights} if weights else {})},
        "tracking": {"max_unseen_s": MAX_UNSEEN_S, "min_hits": 2, "preview_confidence": 0.8},
        "sinks": {"stdout": {"enabled": True, "as_json": True}, "jsonl": {"enabled": False},
                  "sql": {"enabled": False}, "bus": {"enabled": False}},
        "storage": {"state_dir": str(state), "crops": True},
    }
    path.write_text(yaml.safe_dump(cfg))
    return path


def run_daemon(config: Path, state: Path, paced: bool, timeout: float) -> dict:
    args = [sys.executable, "-m", "alprd", "--log-level", "WARNING", "run", "-c", str(config)]
    if not paced:
        args.append("--no-pace")
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    for k in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
        env.pop(k, None)
    err = open(state / "daemon.stderr", "w")
    t0 = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=err, text=True, env=env, cwd=state,
                            start_new_session=True)
    sampler = RssSampler(proc.pid)
    sampler.start()
    events: list[tuple[float, dict]] = []

    def reader():
        for line in proc.stdout:
            now = time.time()
            line = line.strip()
            if line.startswith("{"):
                try:
                    events.append((now, json.loads(line)))
                except ValueError:
                    pass

    rt = threading.Thread(target=reader, daemon=True)
    rt.start()
    try:
        code = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        code = proc.wait(10)
    wall = time.perf_counter() - t0
    rt.join(5)
    sampler.stop()
    err.close()
    stats = json.loads((state / "stats.json").read_text()) if (state / "stats.json").exists() else {}
    return {"exit_code": code, "wall_s": round(wall, 2), "stats": stats, "events": events,
            "rss": sampler.report(), "stderr_tail": (state / "daemon.stderr").read_text()[-2000:]}


def _ts(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def latencies(events: list[tuple[float, dict]]) -> dict:
    preview = [arr - _ts(e["last_seen"]) for arr, e in events if e.get("kind") == "plate.preview"]
    final = [arr - _ts(e["last_seen"]) for arr, e in events if e.get("kind") == "plate.final"]

    def summary(xs):
        if not xs:
            return None
        xs = sorted(xs)
        return {"n": len(xs), "median_ms": round(statistics.median(xs) * 1000, 1),
                "p90_ms": round(xs[min(len(xs) - 1, int(0.9 * len(xs)))] * 1000, 1),
                "max_ms": round(xs[-1] * 1000, 1)}

    return {"preview": summary(preview), "final": summary(final),
            "final_minus_max_unseen": summary([x - MAX_UNSEEN_S for x in final])}


def bench(cameras: list[int], seconds: float, size: tuple[int, int], modes: list[str], paced_fps: float,
          weights: str | None, backend: str, max_batch: int, threads: int, workdir: Path | None = None) -> dict:
    from benchmarks.model import load_average, machine, resolve_weights
    from benchmarks.scenes import crossing_video

    tmp = workdir or Path(tempfile.mkdtemp(prefix="alprd-bench-pipeline-"))
    tmp.mkdir(parents=True, exist_ok=True)
    fps = 25
    tail = MAX_UNSEEN_S + 1.0      # the stream goes on after the last plate left, so its final is timed
    video, passes = crossing_video(tmp / "stream.mp4", size, seconds=seconds, fps=fps,
                                   cross_s=min(3.0, (seconds - tail) / 1.5), gap_s=min(1.0, seconds / 8), tail_s=tail)
    wpath, wdesc = resolve_weights(weights, tmp)
    rows = []
    load_before = load_average()
    for n in cameras:
        dec = decode_only(video, n)
        for mode in modes:
            paced = mode == "paced"
            state = tmp / f"{mode}-{n}"
            state.mkdir(exist_ok=True)
            cam_fps = paced_fps if paced else fps
            cfg = write_config(state / "alprd.yaml", video, n, state=state, weights=wpath, fps=cam_fps,
                               backend=backend, max_batch=max_batch, threads=threads)
            r = run_daemon(cfg, state, paced, timeout=max(120.0, seconds * 20 * n))
            s = r["stats"]
            fr = s.get("frames", {})
            # flat: processed / time since the model was loaded (stats.json); paced: the stream's own
            # duration is the clock (frames come at the camera's rate; start-up and drain excluded)
            processed_fps = s.get("processed_fps", 0.0) if not paced else round(fr.get("processed", 0) / seconds, 2)
            row = {
                "cameras": n, "mode": mode, "camera_fps": cam_fps, "exit_code": r["exit_code"],
                "frames": fr, "processed_fps": processed_fps,
                "processed_fps_per_camera": round(processed_fps / n, 2),
                "decode_only_fps": dec["fps"],
                # flat: the daemon against the decode-only ceiling; paced: the share of sampled frames processed
                "ratio_to_decode_only": round(processed_fps / dec["fps"], 3) if dec["fps"] else None,
                "processed_of_sampled": round(fr.get("processed", 0) / max(1, fr.get("received", 0)), 3) if paced else None,
                "dropped": fr.get("dropped", 0) + fr.get("stale", 0) + fr.get("lost", 0),
                "mean_batch": s.get("mean_batch"), "events": s.get("events"),
                "plates_passed": len(passes) * n,
                "latency": latencies(r["events"]) if paced else None,
                "rss": r["rss"], "decode_only": dec, "wall_s": r["wall_s"],
            }
            if r["exit_code"] != 0:
                row["stderr_tail"] = r["stderr_tail"]
            rows.append(row)
    return {"machine": machine(), "stream": {"size": f"{size[0]}x{size[1]}", "fps": fps, "seconds": seconds,
                                             "codec": "H.264 (libx264 ultrafast, no B-frames)"},
            "weights": wdesc, "backend": backend, "max_batch": max_batch,
            "load_average_before": load_before, "load_average_after": load_average(), "rows": rows}


def print_table(result: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    m = result["machine"]
    st = result["stream"]
    t = Table("cams", "mode", "fps/cam asked", "processed fps", "per cam", "decode-only fps", "ratio", "dropped",
              "batch", "events p/f", "preview lat. med/p90 ms", "final lat. − wait, med ms", "peak RSS MB (main/worker/decoders)",
              title=f"alprd pipeline benchmark: {st['size']} H.264 {st['fps']} fps, {st['seconds']} s per camera, "
                    f"{m['cpu']} ({m['cores']} cores), backend {result['backend']}; load average "
                    f"{result['load_average_before']} → {result['load_average_after']}; weights: {result['weights']}")
    for r in result["rows"]:
        lat = r["latency"] or {}
        pv, fm = lat.get("preview"), lat.get("final_minus_max_unseen")
        rss = r["rss"]
        main = [v["peak_mb"] for k, v in rss.items() if k.startswith("alprd: main")]
        worker = [v["peak_mb"] for k, v in rss.items() if "worker" in k]
        decs = [v["peak_mb"] for k, v in rss.items() if "decoder" in k]
        ev = r["events"] or {}
        t.add_row(str(r["cameras"]), r["mode"], f"{r['camera_fps']:g}", f"{r['processed_fps']:.1f}",
                  f"{r['processed_fps_per_camera']:.1f}", f"{r['decode_only_fps']:.1f}",
                  f"{r['ratio_to_decode_only']:.2f}" if r["mode"] == "flat" else f"{r['processed_of_sampled']:.2f} of sampled",
                  str(r["dropped"]), f"{r['mean_batch'] or 0:.1f}",
                  f"{ev.get('plate.preview', 0)}/{ev.get('plate.final', 0)} ({r['plates_passed']} passed)",
                  f"{pv['median_ms']:.0f}/{pv['p90_ms']:.0f}" if pv else "-",
                  f"{fm['median_ms']:.0f}" if fm else "-",
                  f"{'/'.join(f'{x:.0f}' for x in main) or '-'} / {'/'.join(f'{x:.0f}' for x in worker) or '-'} / "
                  f"{max(decs) if decs else 0:.0f} max")
    Console(width=220).print(t)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cameras", default="1,2,4")
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--size", default="1920x1080")
    ap.add_argument("--modes", default="flat,paced", help="flat (--no-pace, every frame), paced (live-like)")
    ap.add_argument("--paced-fps", type=float, default=10.0, help="frames sampled per camera per second when paced")
    ap.add_argument("--weights", default=None)
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--max-batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--workdir", type=Path, default=None, help="keep the video, configs and logs here")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    size = tuple(int(v) for v in args.size.split("x"))
    result = bench([int(c) for c in args.cameras.split(",")], args.seconds, size,
                   [m for m in args.modes.split(",") if m], args.paced_fps, args.weights, args.backend,
                   args.max_batch, args.threads, args.workdir)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        print_table(result)
    return 0 if all(r["exit_code"] == 0 for r in result["rows"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
