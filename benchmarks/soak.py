"""Soak: the real daemon on N looping streams for a long time, watching for anything that grows.

    python -m benchmarks.soak [--cameras 4] [--seconds 600] [--warmup 60] [--hostile] [--json]

The stream is made here (benchmarks.scenes.crossing_video: light plates crossing a dark street one
after another); every camera loops it, so tracks open and close, previews and finals flow through
every sink (JSONL, SQLite through its spool, the ZeroMQ bus, read by a subscriber here) for the
whole run. Weights: --weights FILE, else the shipped ones if trained, else built ones
(benchmarks.rigged) that find the light plates.

Every --interval seconds (default 1) it samples, for the daemon's main process and each child
(the inference worker, each camera's decoder, the resource tracker; a restarted child keeps its
role): resident memory (VmRSS), open file descriptors, threads; and the daemon's shared-memory
frame rings in /dev/shm (count and bytes). After the warm-up (default: 60 s, or a third of a
short run) it fits a least-squares line to each series and prints its slope per hour with the
first and last values, so a leak shows as a steady slope; and the slope of the second half alone,
since allocators grow in steps and then stay (a whole-run slope counts a step as growth). Target:
no growth after warm-up (second-half RSS slopes within noise, fds, threads and rings flat). --json prints everything (with the samples
under --samples) for machines.

--hostile adds issue 18's neighbours (benchmarks.hostile) for the whole run: a local client
flooding the bus with distinct subscriptions over 4 connections, and one more camera, an HTTP
stream of 5000x5000 frames that the decoder refuses (max_frame_pixels) and retries forever.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from alprd.stream.ring import segment_fields
from benchmarks import harness
from benchmarks.ports import free_port
from benchmarks.procfs import descendants, status

PAGE = os.sysconf("SC_PAGE_SIZE")
METRICS = ("rss_mb", "fds", "threads")


# ---------------------------------------------------------------------------------------------
# sampling /proc


def ring_segments(pids: set[int]) -> dict[str, tuple[int, int]]:
    """alprd frame rings in /dev/shm written by these pids: name -> (writer pid, bytes)."""
    from alprd.stream.ring import list_segments, segment_pid

    out = {}
    for name in list_segments():
        pid = segment_pid(name)
        if pid in pids:
            try:
                out[name] = (pid, os.stat(os.path.join("/dev/shm", name)).st_size)
            except OSError:
                continue
    return out


def role_of(pid: int, main_pid: int, rings: dict[str, tuple[int, int]]) -> str:
    if pid == main_pid:
        return "main"
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "gone"
    if comm == "alprd: worker":
        return "worker"
    for name, (writer, _) in rings.items():
        if writer == pid:
            return "decoder:" + segment_fields(name)["cam"]
    if "resource_tracker" in cmdline:
        return "resource_tracker"
    if comm.startswith("alprd: decoder"):
        return f"decoder(pid {pid})"  # before its first frame: no ring to name it by yet
    return f"{comm}(pid {pid})"


def sample(main_pid: int) -> dict:
    """One sample: per role rss_mb/fds/threads (+pid), and the rings."""
    pids = [main_pid] + descendants(main_pid)
    rings = ring_segments(set(pids))
    procs = {}
    for pid in pids:
        try:
            st = status(pid)
            fds = len(os.listdir(f"/proc/{pid}/fd"))
        except OSError:
            continue  # exited between the listing and the read
        if st.get("State", "").startswith("Z"):
            continue
        role = role_of(pid, main_pid, rings)
        procs[role] = {"pid": pid, "rss_mb": int(st.get("VmRSS", "0 kB").split()[0]) / 1024.0,
                       "fds": fds, "threads": int(st.get("Threads", "0"))}
    return {"procs": procs, "rings": len(rings), "ring_mb": sum(b for _, b in rings.values()) / 2 ** 20}


# ---------------------------------------------------------------------------------------------
# the numbers


def slope_per_hour(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of (t seconds, value) in value units per hour."""
    if len(points) < 3:
        return None
    n = len(points)
    mt = sum(t for t, _ in points) / n
    mv = sum(v for _, v in points) / n
    var = sum((t - mt) ** 2 for t, _ in points)
    if var == 0:
        return None
    return sum((t - mt) * (v - mv) for t, v in points) / var * 3600.0


def series(samples: list[dict], warmup_s: float) -> dict[str, dict[str, list[tuple[float, float]]]]:
    """role -> metric -> [(t, value)] after the warm-up (rings under the role "shm")."""
    out: dict[str, dict[str, list]] = {}
    for s in samples:
        if s["t"] < warmup_s:
            continue
        for role, vals in s["procs"].items():
            for m in METRICS:
                out.setdefault(role, {}).setdefault(m, []).append((s["t"], vals[m]))
        out.setdefault("shm", {}).setdefault("rings", []).append((s["t"], s["rings"]))
        out["shm"].setdefault("ring_mb", []).append((s["t"], s["ring_mb"]))
        total = sum(v["rss_mb"] for v in s["procs"].values())
        out.setdefault("total", {}).setdefault("rss_mb", []).append((s["t"], total))
    return out


def _median(vals: list[float]) -> float:
    v = sorted(vals)
    return (v[(len(v) - 1) // 2] + v[len(v) // 2]) / 2


def growth_table(samples: list[dict], warmup_s: float) -> dict:
    """role -> metric -> {first, last, max, slope_per_h, late_slope_per_h, early_median,
    late_median, n} over the samples after warm-up. The late figures cover the second half only:
    allocators grow in steps (an arena, a cache) and then stay, which a whole-run slope reports as
    growth; a leak keeps climbing in the second half too."""
    table = {}
    for role, metrics in series(samples, warmup_s).items():
        for m, pts in metrics.items():
            vals = [v for _, v in pts]
            half = len(pts) // 2
            s, late = slope_per_hour(pts), slope_per_hour(pts[half:])
            table.setdefault(role, {})[m] = {
                "first": round(vals[0], 3), "last": round(vals[-1], 3), "max": round(max(vals), 3),
                "slope_per_h": None if s is None else round(s, 3),
                "late_slope_per_h": None if late is None else round(late, 3),
                "early_median": round(_median(vals[:max(1, half)]), 3), "late_median": round(_median(vals[half:]), 3),
                "n": len(pts)}
    return table


def verdict(table: dict) -> list[str]:
    """Series that grew: fds, threads or rings whose median is higher in the second half of the
    run than in the first, RSS climbing more than 20 MB/h in the second half (allocator noise and
    one-off steps stay far below that)."""
    out = []
    for role, metrics in table.items():
        for m, d in metrics.items():
            if m in ("fds", "threads", "rings") and d["late_median"] > d["early_median"]:
                out.append(f"{role} {m} median {d['early_median']:g} -> {d['late_median']:g}")
            if m == "rss_mb" and role != "total" and (d["late_slope_per_h"] or 0) > 20:
                out.append(f"{role} rss {d['late_slope_per_h']:+.1f} MB/h in the second half")
    return out


def print_table(result: dict) -> None:
    t = result["growth"]
    print(f"soak: {result['cameras']} camera(s), {result['seconds']:.0f} s, warm-up {result['warmup_s']:.0f} s, "
          f"{result['samples_n']} samples; weights: {result['weights']}; load {result['load_average']}")
    print("slopes per hour after warm-up (whole / second half)")
    print(f"{'process':<22} {'RSS MB first→last':>18} {'MB/h':>16} {'fds':>9} {'fds/h':>13} "
          f"{'threads':>9} {'thr/h':>13}")

    def cell(d, key):
        if d is None:
            return ""
        if key == "range":
            return f"{d['first']:g}→{d['last']:g}"
        whole, late = d["slope_per_h"], d["late_slope_per_h"]
        return "" if whole is None else f"{whole:+.1f} / {late:+.1f}" if late is not None else f"{whole:+.1f}"

    for role in sorted(r for r in t if r not in ("shm", "total")):
        m = t[role]
        rss = m.get("rss_mb")
        rss_range = f"{rss['first']:.1f}→{rss['last']:.1f}" if rss else ""
        print(f"{role:<22} {rss_range:>18} {cell(rss, 'slope'):>16} {cell(m.get('fds'), 'range'):>9} "
              f"{cell(m.get('fds'), 'slope'):>13} {cell(m.get('threads'), 'range'):>9} {cell(m.get('threads'), 'slope'):>13}")
    if "total" in t:
        d = t["total"]["rss_mb"]
        print(f"{'total RSS':<22} {d['first']:.1f}→{d['last']:.1f} MB, {cell(d, 'slope')} MB/h")
    if "shm" in t:
        r, mb = t["shm"]["rings"], t["shm"]["ring_mb"]
        print(f"{'/dev/shm rings':<22} {r['first']:g}→{r['last']:g} ({mb['first']:.1f}→{mb['last']:.1f} MB), "
              f"{cell(r, 'slope')} rings/h")
    ev = result["events"]
    print(f"events on the bus: {ev['bus_preview']} preview, {ev['bus_final']} final, {ev['bus_missed']} missed; "
          f"stats.json: {result['stats'].get('events')}, frames {result['stats'].get('frames')}; "
          f"restarts {result['stats'].get('restarts')}; exit {result['exit_code']}")
    if result.get("hostile"):
        print(f"hostile: {result['hostile']}")
    print("growth: " + ("; ".join(result["grew"]) if result["grew"] else "none after warm-up"))


# ---------------------------------------------------------------------------------------------
# the run


class _BusCounter:
    """A subscriber reading every event of the daemon's bus for the whole run."""

    def __init__(self, endpoint: str) -> None:
        import zmq

        from alprd.sinks.bus import SequenceGaps

        self.counts = {"plate.preview": 0, "plate.final": 0}
        self.gaps = SequenceGaps()   # events published but never received here
        self._ctx = zmq.Context()
        self._sock = self._ctx.socket(zmq.SUB)
        self._sock.setsockopt(zmq.LINGER, 0)
        self._sock.connect(endpoint)
        self._sock.setsockopt_string(zmq.SUBSCRIBE, "plate.")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            if self._sock.poll(200):
                topic, _, sequence = self._sock.recv_multipart()
                self.gaps.observe(topic, sequence)
                kind = topic.decode().rsplit(".", 1)[0]
                self.counts[kind] = self.counts.get(kind, 0) + 1

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self._sock.close(0)
        self._ctx.term()


def write_config(path: Path, video: Path, cameras: int, *, state: Path, weights: str, fps: float,
                 bus_port: int, threads: int, extra_cameras: list[dict] = ()) -> Path:
    return harness.write_config(path, harness.config(
        [{"id": f"cam{i}", "url": str(video), "loop": True} for i in range(cameras)] + list(extra_cameras),
        state_dir=state, weights=weights, defaults={"fps": fps},
        inference={"threads": threads, "max_batch": 4}, tracking={"max_unseen_s": 1.0},
        sinks={"sql": {"enabled": True, "url": f"sqlite:///{state / 'alprd.db'}"},
               "bus": {"enabled": True, "endpoint": f"tcp://127.0.0.1:{bus_port}"}},
        storage={"crops": True}))


def run(cameras: int, seconds: float, warmup_s: float | None, interval: float, weights: str | None,
        size: tuple[int, int], fps: float, threads: int, workdir: Path | None = None,
        log=lambda msg: print(msg, file=sys.stderr, flush=True), hostile: bool = False) -> dict:
    from benchmarks.model import load_average, resolve_weights
    from benchmarks.scenes import crossing_video

    warmup_s = min(60.0, seconds / 3) if warmup_s is None else warmup_s
    with tempfile.TemporaryDirectory(prefix="alprd-soak-", dir=workdir) as tmp_s:
        tmp = Path(tmp_s)
        wpath, wdesc = resolve_weights(weights, tmp)
        video, _ = crossing_video(tmp / "street.mp4", size=size, seconds=8.0, fps=10, cross_s=2.5, gap_s=1.5)
        state = tmp / "state"
        port = free_port()
        oversized = flooder = None
        extra = []
        if hostile:
            from benchmarks.hostile import OversizedCamera, oversized_mjpeg

            oversized = OversizedCamera(oversized_mjpeg(tmp / "huge.avi"))
            extra = [{"id": "hostile", "url": oversized.url}]
        cfg = write_config(tmp / "alprd.yaml", video, cameras, state=state, weights=wpath, fps=fps,
                           bus_port=port, threads=threads, extra_cameras=extra)
        bus = _BusCounter(f"tcp://127.0.0.1:{port}")
        load_before = load_average()
        daemon = harness.Daemon(cfg, tmp, stdout=subprocess.DEVNULL)
        proc = daemon.proc
        samples: list[dict] = []
        exit_code = None
        try:
            try:
                daemon.wait_ready(300)
            except AssertionError as exc:
                raise RuntimeError(f"the daemon did not start: {exc}") from None
            if hostile:
                from benchmarks.hostile import SubscriptionFlooder

                flooder = SubscriptionFlooder(f"tcp://127.0.0.1:{port}")
            log(f"soak: daemon running (pid {proc.pid}); sampling every {interval:g} s for {seconds:g} s")
            t0 = time.monotonic()
            next_at = t0
            next_log = t0 + 60
            while (now := time.monotonic()) - t0 < seconds:
                if proc.poll() is not None:
                    raise RuntimeError(f"the daemon exited ({proc.returncode}):\n{daemon.stderr[-3000:]}")
                s = sample(proc.pid)
                s["t"] = round(now - t0, 3)
                samples.append(s)
                if now >= next_log:
                    next_log += 60
                    total = sum(p["rss_mb"] for p in s["procs"].values())
                    log(f"soak: {s['t']:.0f} s, total RSS {total:.0f} MB, {len(s['procs'])} processes, "
                        f"{s['rings']} rings, {bus.counts['plate.final']} finals")
                next_at += interval
                time.sleep(max(0.0, next_at - time.monotonic()))
            daemon.signal(signal.SIGTERM)
            exit_code = daemon.wait(120)
        finally:
            flood_sent = flooder.close() if flooder is not None else None
            if oversized is not None:
                oversized.close()
            daemon.close()
            time.sleep(0.3)
            bus.close()
        try:
            stats = json.loads((state / "stats.json").read_text())
        except (OSError, ValueError):
            stats = {}
        table = growth_table(samples, warmup_s)
        return {
            "cameras": cameras, "seconds": seconds, "warmup_s": warmup_s, "interval_s": interval,
            "samples_n": len(samples), "weights": wdesc, "size": list(size), "fps": fps,
            "load_average": f"{load_before} → {load_average()}", "exit_code": exit_code,
            "events": {"bus_preview": bus.counts.get("plate.preview", 0), "bus_final": bus.counts.get("plate.final", 0),
                       "bus_missed": bus.gaps.missed},
            "stats": {k: stats.get(k) for k in ("events", "frames", "restarts", "processed_fps")},
            "hostile": None if not hostile else {
                "subscriptions_offered": flood_sent, "camera_requests": oversized.requests,
                "bus": (stats.get("sinks") or {}).get("bus"),
                "hostile_decoder": (stats.get("decoders") or {}).get("hostile")},
            "growth": table, "grew": verdict(table), "samples": samples,
        }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cameras", type=int, default=4, help="looping streams (default 4)")
    ap.add_argument("--seconds", type=float, default=600.0, help="how long to sample (default 600)")
    ap.add_argument("--warmup", type=float, default=None,
                    help="seconds left out of the slopes (default 60, or a third of a short run)")
    ap.add_argument("--interval", type=float, default=1.0, help="seconds between samples (default 1)")
    ap.add_argument("--weights", default=None)
    ap.add_argument("--size", default="640x360", help="stream frame size WxH (default 640x360)")
    ap.add_argument("--fps", type=float, default=5.0, help="frames per second processed per camera")
    ap.add_argument("--threads", type=int, default=0, help="inference threads (0: library default)")
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    ap.add_argument("--samples", action="store_true", help="with --json: include every sample")
    ap.add_argument("--hostile", action="store_true",
                    help="add a bus subscription flooder and a camera of oversized frames (issue 18)")
    args = ap.parse_args(argv)
    w, h = (int(v) for v in args.size.lower().split("x"))
    result = run(args.cameras, args.seconds, args.warmup, args.interval, args.weights, (w, h), args.fps,
                 args.threads, hostile=args.hostile)
    if args.json:
        if not args.samples:
            result.pop("samples")
        print(json.dumps(result, indent=1))
    else:
        print_table(result)
    return 0 if result["exit_code"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
