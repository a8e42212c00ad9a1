"""Decoding benchmark: what one camera's decoder process costs, per decoding setting, side by side.

    python -m benchmarks.decoding [--seconds 20] [--repeat 2] [--json]

The stream: benchmarks.parking_motion.parking_video's still 1920x1080 car park at 25 fps with
sensor noise, where a car arrives and parks now and then, encoded as a camera does (CABAC and
deblocking, no B-frames, a key frame a second); plus the same pictures with B-frames. Each row runs the real
decoder loop (alprd.stream.decoder.run_decoder: FrameSource, motion gate, shared-memory ring) flat
out over the file, sampled at 10 fps, in a child process of its own; its CPU time (all threads,
from resource.getrusage of the child) is reported as CPU-seconds per camera-minute of video, the
minimum of `--repeat` runs (the machine is shared: the minimum is the least disturbed).
"Capacity" is how many such decoders two cores hold at 100 % (decoding only: inference is not
in these figures; see benchmarks/parking_motion.py for the whole daemon).
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

CAMERA_FPS = 10.0

ROWS = [  # (label, video, decode settings, motion gate on)
    ("today: slice threads x2, gate off", "camera", {"skip_nonref": False, "thread_type": "slice"}, False),
    ("frame+slice threads x2, gate off", "camera", {"skip_nonref": False, "thread_type": "auto"}, False),
    ("1 thread, gate off", "camera", {"skip_nonref": False, "threads": 1}, False),
    ("gate on (luma gate, still frames not converted)", "camera", {}, True),
    ("gate on + key frames only after 2 s idle", "camera", {"idle_keyframes_after_s": 2.0}, True),
    ("B-frames, every frame decoded, gate off", "bframes", {"skip_nonref": False}, False),
    ("B-frames, non-reference skipped, gate off", "bframes", {"skip_nonref": True}, False),
    ("B-frames, non-reference skipped, gate on", "bframes", {"skip_nonref": True}, True),
]


class _NullQueue:
    def put_nowait(self, ref) -> None:
        pass


def _child(video: str, decode: dict, gate: bool, conn) -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import threading

    from alprd.config import CameraConfig, CameraDefaults, DecodeConfig, MotionConfig
    from alprd.stream.decoder import DecoderStats, run_decoder

    camera = CameraConfig(id=f"bench{os.getpid()}", url=video)
    defaults = CameraDefaults(motion=MotionConfig(enabled=gate), decode=DecodeConfig(**decode))
    stats = DecoderStats()
    before = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.monotonic()
    run_decoder(camera, defaults, CAMERA_FPS, _NullQueue(), threading.Event(), stats, realtime=False)
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    conn.send({"cpu_s": cpu, "wall_s": time.monotonic() - t0, **stats.snapshot()})


def measure(video: Path, decode: dict, gate: bool) -> dict:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_child, args=(str(video), decode, gate, child))
    proc.start()
    result = parent.recv()
    proc.join()
    return result


def camera_copy(src: Path, dst: Path, bframes: int) -> Path:
    """The same pictures as a camera encodes them: Main-profile-like H.264 (CABAC, deblocking: the
    `veryfast` preset; the test videos' `ultrafast` has neither and decodes much cheaper), a key
    frame a second, `bframes` B-frames between references (b-pyramid off: non-reference)."""
    import av

    with av.open(str(src)) as inp, av.open(str(dst), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=Fraction(25))
        stream.width, stream.height, stream.pix_fmt = 1920, 1080, "yuv420p"
        stream.codec_context.gop_size = 25
        stream.codec_context.options = {"preset": "veryfast", "crf": "23", "bf": str(bframes),
                                        "b-pyramid": "none", "sc_threshold": "0"}
        for i, frame in enumerate(inp.decode(video=0)):
            frame.pts, frame.time_base = i, Fraction(1, 25)
            frame.pict_type = av.video.frame.PictureType.NONE  # let the encoder choose, not the source
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return dst


def bench(seconds: float, repeat: int, workdir: Path | None) -> dict:
    from benchmarks.model import load_average
    from benchmarks.parking_motion import parking_video

    tmp = workdir or Path(tempfile.mkdtemp(prefix="alprd-bench-decode-"))
    tmp.mkdir(parents=True, exist_ok=True)
    arrivals = [t for t in (seconds * 0.3, seconds * 0.65) if t + 5 < seconds]
    drawn, _ = parking_video(tmp / "parking-drawn.mp4", (1920, 1080), seconds, arrivals, "drawn")
    videos = {"camera": camera_copy(drawn, tmp / "parking.mp4", 0),
              "bframes": camera_copy(drawn, tmp / "parking-bframes.mp4", 2)}
    rows = []
    for label, video, decode, gate in ROWS:
        loads, runs = [], []
        for _ in range(repeat):
            loads.append(load_average()[0] if load_average() else None)
            runs.append(measure(videos[video], decode, gate))
        best = min(runs, key=lambda r: r["cpu_s"])
        per_min = best["cpu_s"] / seconds * 60
        rows.append({"setting": label, "video": video, "decode": decode, "gate": gate,
                     "decoded": int(best["decoded"]), "sampled": int(best["sampled"]),
                     "gated": int(best["gated"]), "cpu_s": round(best["cpu_s"], 2),
                     "cpu_s_per_camera_minute": round(per_min, 1),
                     "cameras_on_2_cores": round(2 * 60 / per_min, 1) if per_min else None,
                     "load_1min": loads})
    base = rows[0]["cpu_s_per_camera_minute"]
    for r in rows:
        r["vs_today"] = round(r["cpu_s_per_camera_minute"] / base, 2) if base else None
    return {"stream": f"1920x1080 H.264 25 fps, {seconds:g} s, {len(arrivals)} arrivals, sampled at "
                      f"{CAMERA_FPS:g} fps", "repeat": repeat, "cores": os.cpu_count(),
            "load_average_before": rows and rows[0]["load_1min"], "load_average_after": load_average(),
            "rows": rows}


def print_table(result: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table("setting", "video", "decoded", "sampled", "gated", "CPU s / camera-min", "vs today",
              "cams on 2 cores (decode only)", "load (1 min)",
              title=f"decoding: {result['stream']}; min of {result['repeat']}; load after "
                    f"{result['load_average_after']}")
    for r in result["rows"]:
        t.add_row(r["setting"], r["video"], str(r["decoded"]), str(r["sampled"]), str(r["gated"]),
                  f"{r['cpu_s_per_camera_minute']:.1f}", f"{r['vs_today']:.2f}", f"{r['cameras_on_2_cores']}",
                  ", ".join(f"{x:.1f}" for x in r["load_1min"] if x is not None))
    Console(width=200).print(t)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    result = bench(args.seconds, max(1, args.repeat), args.workdir)
    if args.json:
        print(json.dumps(result))
    else:
        print_table(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
