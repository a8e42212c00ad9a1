"""Pipeline benchmark: N cameras of a 1080p H.264 stream through the real daemon, against decoding
the same files with PyAV alone, in one run.

    python -m benchmarks.pipeline [--cameras 1,2,4] [--seconds 8] [--modes flat,paced] [--json]

The test stream is made here with PyAV (benchmarks.scenes.crossing_video): a dark street, plates
crossing it one after another. Each camera opens the same file. The plates follow the weights:

- trained weights (the shipped ones by default): ``rendered`` plates, real-looking blue Chinese
  plates with valid texts (皖A12345, 京B6789C, …; pipelines.synth.plates.render_plate with the glyph
  assets of ../shared/data/synth), about 200 px wide in a 1080p frame;
- the built weights of benchmarks.rigged: ``drawn`` plates (a light rectangle with Hershey text),
  the only thing those weights light up on. Without the synth assets the benchmark falls back to
  drawn plates and built weights, and says so in the table's title.
--plates forces a style.

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
- read accuracy (rendered plates): of the plates that passed (per camera), how many got a
  ``plate.final`` whose text equals the text drawn; "-" for drawn plates, whose text no weights read.
- peak RSS of every process (the daemon's main process, worker and decoders; the decode-only
  processes), sampled from /proc every 0.2 s.

Failures are loud: a row whose daemon exited non-zero (or was killed at the time limit), or processed
no frame, is an error: the row carries "error" and the daemon's stderr tail (also in --json), the
tail is printed to stderr, and the command exits 1.

Weights: --weights FILE, else the shipped ones if trained, else built ones (benchmarks.rigged) that
find the drawn plates, so tracks, previews and finals happen as with a trained model.
--max-batch: unset, the daemon's own default (inference.max_batch null: 4 on a CPU).
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks import harness
from benchmarks.procfs import descendants, rss_bytes

MAX_UNSEEN_S = 1.0
REPO = Path(__file__).resolve().parents[1]


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
            for pid in [self.root] + descendants(self.root):
                rss = rss_bytes(pid)
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


def _name(pid: int, root: bool) -> str:
    if root:
        return "alprd: main"
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"
    return comm if comm.startswith("alprd") else f"{comm} (helper)"


def write_config(path: Path, video: Path, n: int, *, state: Path, weights: str | None, fps: float,
                 backend: str, max_batch: int | None, threads: int, lanes: int = 0) -> Path:
    """The daemon's config; max_batch None leaves the daemon's default (auto), lanes 0 too."""
    return harness.write_config(path, harness.config(
        [{"id": f"cam{i}", "url": str(video), "fps": fps} for i in range(n)], state_dir=state, weights=weights,
        defaults={"ring_slots": 8},
        inference={"backend": backend, "max_wait_ms": 20, "threads": threads, "lanes": lanes,
                   **({"max_batch": max_batch} if max_batch is not None else {})},
        tracking={"max_unseen_s": MAX_UNSEEN_S, "min_hits": 2, "preview_confidence": 0.8},
        sinks={"stdout": {"enabled": True, "as_json": True}, "jsonl": {"enabled": False}},
        storage={"crops": True}))


def run_daemon(config: Path, state: Path, paced: bool, timeout: float) -> dict:
    """One daemon run to its end (the files end): exit, wall time, stats, timestamped events, RSS."""
    t0 = time.perf_counter()
    daemon = harness.Daemon(config, state, *([] if paced else ["--no-pace"]), log_level="WARNING",
                            stdout=subprocess.PIPE)
    proc = daemon.proc
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
    timed_out = False
    try:
        code = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        daemon.kill()
        code = proc.returncode
    wall = time.perf_counter() - t0
    rt.join(5)
    sampler.stop()
    daemon.close()
    stats = json.loads((state / "stats.json").read_text()) if (state / "stats.json").exists() else {}
    return {"exit_code": code, "timed_out": timed_out, "wall_s": round(wall, 2), "stats": stats,
            "events": events, "rss": sampler.report(), "stderr_tail": daemon.stderr[-2000:]}


def run_error(r: dict, timeout: float) -> str | None:
    """Why a daemon run is not a measurement (None when it is one)."""
    if r["timed_out"]:
        return f"daemon did not exit within {timeout:.0f} s (killed)"
    if r["exit_code"] != 0:
        return f"daemon exited with code {r['exit_code']}"
    if not r["stats"]:
        return "daemon wrote no stats.json"
    if not r["stats"].get("frames", {}).get("processed"):
        return "daemon processed 0 frames"
    return None


def read_accuracy(events: list[tuple[float, dict]], passes: list[tuple[float, float, str]],
                  cameras: list[str]) -> dict:
    """Of the plates that passed each camera, how many got a plate.final with the text drawn.

    Every camera plays the same file, so each sees every passage; a final counts for at most one
    passage of its text on its camera (texts that repeat in a long video are matched as multisets)."""
    from collections import Counter

    drawn = Counter(text for _, _, text in passes)
    right = 0
    for cam in cameras:
        finals = Counter(e.get("plate") for _, e in events
                         if e.get("kind") == "plate.final" and e.get("camera_id") == cam)
        right += sum((finals & drawn).values())
    passed = len(passes) * len(cameras)
    return {"right": right, "passed": passed, "accuracy": round(right / passed, 3) if passed else None}


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


def _weights_meta(path: str) -> dict | None:
    """The meta of a weights file, None when it cannot be read (the daemon will say why)."""
    from alprd.model.weights import WeightsError, load_checkpoint

    try:
        return {"trained": True, **dict(load_checkpoint(path).get("meta") or {})}
    except (WeightsError, OSError):
        return None


def weights_and_plates(weights: str | None, plates: str, tmp: Path) -> tuple[str, str, str, str | None]:
    """(weights path, what they are, plate style, note) for a run.

    auto: rendered plates for trained weights (the shipped ones by default), drawn plates for the
    built bright-plate weights (benchmarks.rigged), which only light up on a bright rectangle. With
    no synth assets to render plates from, the default falls back to built weights and drawn plates;
    weights given with --weights are kept, with drawn plates, and the note says so."""
    from benchmarks.model import resolve_weights
    from benchmarks.scenes import rendered_plates_available

    wpath, wdesc = resolve_weights(weights, tmp)
    if plates not in ("auto", "drawn", "rendered"):
        raise ValueError(f"plates must be auto, drawn or rendered, got {plates!r}")
    if plates == "drawn":
        return wpath, wdesc, "drawn", None
    if plates == "rendered":
        if not rendered_plates_available():
            raise RuntimeError("--plates rendered: the synth assets (../shared/data/synth, or $ALPRD_DATA/synth) "
                               "are missing")
        return wpath, wdesc, "rendered", None
    meta = _weights_meta(wpath)
    if meta is None:
        return wpath, wdesc + " (unreadable)", "drawn", None
    if meta.get("rigged") or not meta.get("trained"):
        return wpath, wdesc, "drawn", None
    if rendered_plates_available():
        return wpath, wdesc, "rendered", None
    if weights:
        return wpath, wdesc, "drawn", ("synth assets (../shared/data/synth) missing: drawn plates, "
                                       "which trained weights do not read")
    from benchmarks.rigged import make_bright_plate_weights

    built = str(make_bright_plate_weights(tmp / "bright-plate.pt"))
    return built, "built (benchmarks.rigged)", "drawn", ("synth assets (../shared/data/synth) missing: "
                                                         "drawn plates and built weights instead of the shipped ones")


def bench(cameras: list[int], seconds: float, size: tuple[int, int], modes: list[str], paced_fps: float,
          weights: str | None, backend: str, max_batch: int | None, threads: int, workdir: Path | None = None,
          plates: str = "auto", lanes: Sequence[int] = (0,)) -> dict:
    from benchmarks.model import load_average, machine
    from benchmarks.scenes import crossing_video

    tmp = workdir or Path(tempfile.mkdtemp(prefix="alprd-bench-pipeline-"))
    tmp.mkdir(parents=True, exist_ok=True)
    fps = 25
    tail = MAX_UNSEEN_S + 1.0      # the stream goes on after the last plate left, so its final is timed
    wpath, wdesc, style, note = weights_and_plates(weights, plates, tmp)
    video, passes = crossing_video(tmp / "stream.mp4", size, seconds=seconds, fps=fps,
                                   cross_s=min(3.0, (seconds - tail) / 1.5), gap_s=min(1.0, seconds / 8), tail_s=tail,
                                   plates=style)
    rows = []
    load_before = load_average()
    for n in cameras:
        dec = decode_only(video, n)
        for mode, k in [(m, k) for k in lanes for m in modes]:
            paced = mode == "paced"
            state = tmp / f"{mode}-{n}-lanes{k}"
            state.mkdir(exist_ok=True)
            cam_fps = paced_fps if paced else fps
            cfg = write_config(state / "alprd.yaml", video, n, state=state, weights=wpath, fps=cam_fps,
                               backend=backend, max_batch=max_batch, threads=threads, lanes=k)
            timeout = max(120.0, seconds * 20 * n)
            r = run_daemon(cfg, state, paced, timeout=timeout)
            error = run_error(r, timeout)
            s = r["stats"]
            fr = s.get("frames", {})
            # flat: processed / time since the model was loaded (stats.json); paced: the stream's own
            # duration is the clock (frames come at the camera's rate; start-up and drain excluded)
            processed_fps = s.get("processed_fps", 0.0) if not paced else round(fr.get("processed", 0) / seconds, 2)
            row = {
                "cameras": n, "mode": mode, "lanes": k, "camera_fps": cam_fps, "exit_code": r["exit_code"], "error": error,
                "frames": fr, "processed_fps": processed_fps,
                "processed_fps_per_camera": round(processed_fps / n, 2),
                "decode_only_fps": dec["fps"],
                # flat: the daemon against the decode-only ceiling; paced: the share of sampled frames processed
                "ratio_to_decode_only": round(processed_fps / dec["fps"], 3) if dec["fps"] else None,
                "processed_of_sampled": round(fr.get("processed", 0) / max(1, fr.get("received", 0)), 3) if paced else None,
                "dropped": fr.get("dropped", 0) + fr.get("stale", 0) + fr.get("lost", 0),
                "mean_batch": s.get("mean_batch"), "events": s.get("events"),
                "plates_passed": len(passes) * n,
                "read": read_accuracy(r["events"], passes, [f"cam{i}" for i in range(n)]) if style == "rendered" else None,
                "latency": latencies(r["events"]) if paced else None,
                "rss": r["rss"], "decode_only": dec, "wall_s": r["wall_s"],
            }
            if error:
                row["stderr_tail"] = r["stderr_tail"]
            rows.append(row)
    return {"machine": machine(), "stream": {"size": f"{size[0]}x{size[1]}", "fps": fps, "seconds": seconds,
                                             "codec": "H.264 (libx264 ultrafast, no B-frames)"},
            "plates": {"style": style, "texts": [p[2] for p in passes], "note": note,
                       "width_px": _plate_width(style, size)},
            "weights": wdesc, "weights_path": wpath, "backend": backend,
            "max_batch": max_batch if max_batch is not None else "auto",
            "load_average_before": load_before, "load_average_after": load_average(), "rows": rows,
            "errors": [f"{r['cameras']} camera(s) {r['mode']}: {r['error']}" for r in rows if r["error"]]}


def _plate_width(style: str, size: tuple[int, int]) -> int:
    from benchmarks.scenes import PLATE_FRAC, RENDERED_PX_PER_MM_1080P

    if style == "rendered":
        return round(440 * RENDERED_PX_PER_MM_1080P * size[0] / 1920)
    return round(PLATE_FRAC * size[0])


def report_errors(result: dict, file=None) -> None:
    """Each failed row and the tail of its daemon's stderr, on stderr."""
    file = file or sys.stderr
    for r in result["rows"]:
        if r["error"]:
            print(f"\nERROR: {r['cameras']} camera(s), {r['mode']}: {r['error']}; the daemon's stderr ends with:",
                  file=file)
            print(_indent(r.get("stderr_tail") or "(empty)"), file=file)
    if result["errors"]:
        print(f"\npipeline benchmark: {len(result['errors'])} of {len(result['rows'])} run(s) failed; "
              "their rows are not measurements", file=file)


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.rstrip().splitlines())


def print_table(result: dict) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    m = result["machine"]
    st = result["stream"]
    pl = result["plates"]
    plates = (f"rendered blue plates ({len(set(pl['texts']))} texts, ~{pl['width_px']} px wide)" if pl["style"] == "rendered"
              else f"drawn light plates (~{pl['width_px']} px wide)")
    note = f"; {pl['note']}" if pl.get("note") else ""
    t = Table("status", "cams", "mode", "lanes", "fps/cam asked", "processed fps", "per cam", "decode-only fps", "ratio", "dropped",
              "batch", "events p/f", "read right", "preview lat. med/p90 ms", "final lat. − wait, med ms",
              "peak RSS MB (main/worker/decoders)",
              title=escape(f"alprd pipeline benchmark: {st['size']} H.264 {st['fps']} fps, {st['seconds']} s per camera, "
                    f"{m['cpu']} ({m['cores']} cores), backend {result['backend']}, max batch {result['max_batch']}; "
                    f"load average {result['load_average_before']} → {result['load_average_after']}; "
                    f"weights: {result['weights']}; plates: {plates}{note}"))
    for r in result["rows"]:
        lat = r["latency"] or {}
        pv, fm = lat.get("preview"), lat.get("final_minus_max_unseen")
        rss = r["rss"]
        main = [v["peak_mb"] for k, v in rss.items() if k.startswith("alprd: main")]
        worker = [v["peak_mb"] for k, v in rss.items() if "worker" in k]
        decs = [v["peak_mb"] for k, v in rss.items() if "decoder" in k]
        ev = r["events"] or {}
        rd = r.get("read")
        status = "[bold red]ERROR[/] (below)" if r.get("error") else "ok"
        t.add_row(status, str(r["cameras"]), r["mode"], str(r.get("lanes", 0) or "auto"), f"{r['camera_fps']:g}", f"{r['processed_fps']:.1f}",
                  f"{r['processed_fps_per_camera']:.1f}", f"{r['decode_only_fps']:.1f}",
                  f"{r['ratio_to_decode_only']:.2f}" if r["mode"] == "flat" else f"{r['processed_of_sampled']:.2f} of sampled",
                  str(r["dropped"]), f"{r['mean_batch'] or 0:.1f}",
                  f"{ev.get('plate.preview', 0)}/{ev.get('plate.final', 0)} ({r['plates_passed']} passed)",
                  f"{rd['right']}/{rd['passed']}" if rd else "-",
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
    ap.add_argument("--max-batch", type=int, default=None,
                    help="inference.max_batch; unset: the daemon's default (auto: 4 on a CPU)")
    ap.add_argument("--plates", choices=("auto", "rendered", "drawn"), default="auto",
                    help="plate style; auto: rendered for trained weights, drawn for the built ones")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--lanes", default="0", help="inference.lanes, comma-separated: a row each (0 = auto)")
    ap.add_argument("--workdir", type=Path, default=None, help="keep the video, configs and logs here")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    size = tuple(int(v) for v in args.size.split("x"))
    try:
        result = bench([int(c) for c in args.cameras.split(",")], args.seconds, size,
                       [m for m in args.modes.split(",") if m], args.paced_fps, args.weights, args.backend,
                       args.max_batch, args.threads, args.workdir, args.plates,
                       [int(k) for k in args.lanes.split(",") if k])
    except RuntimeError as exc:
        print(f"pipeline benchmark: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        print_table(result)
    report_errors(result)
    return 1 if result["errors"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
