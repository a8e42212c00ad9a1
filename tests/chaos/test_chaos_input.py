"""Chaos on the input side, one daemon run over six broken or unusual files at once: a truncated
MP4, random bytes, a stream whose resolution changes mid-way, a 4K stream, a one-frame stream and
a grayscale (gray pixel format) stream. The daemon must log and go on, the other cameras must be
unaffected, and each camera must give exactly the plates FFmpeg can decode from its file.
"""
from __future__ import annotations

import av
import numpy as np
from bursts import Burst, burst_schedule, decoded_times, make_burst_video, plates_in
from chaos_helpers import (Ledger, Subscriber, chaos_config, events, frames_accounted, free_port,
                           no_tracebacks, run_alprd, sql_finals, stats)

FPS = 5
MAX_UNSEEN_S = 1.5


def _truncated_in_a_gap(tmp_path, keep_bursts: int):
    """A faststart MP4 of 4 plates cut inside the silence after its keep_bursts-th plate."""
    bursts = burst_schedule(4, first_s=0.5, gap_s=2.5)
    full = make_burst_video(tmp_path / "full.mp4", bursts, faststart=True)
    cut_at = bursts[keep_bursts].start_s
    with av.open(str(full)) as c:
        stream = c.streams.video[0]
        pos = min(p.pos for p in c.demux(stream) if p.size and p.pts * stream.time_base >= cut_at)
    path = tmp_path / "truncated.mp4"
    path.write_bytes(full.read_bytes()[:pos])
    return path


def test_corrupt_and_unusual_streams(tmp_path, chaos_weights):
    files = {
        "truncated": _truncated_in_a_gap(tmp_path, 2),
        "garbage": tmp_path / "garbage.mp4",
        "reschange": tmp_path / "reschange.ts",
        "uhd": make_burst_video(tmp_path / "uhd.mp4", [Burst(0.0, 6)], size=(3840, 2160)),
        "single": make_burst_video(tmp_path / "single.mp4", [Burst(0.0, 1)]),
        "gray": make_burst_video(tmp_path / "gray.mkv", burst_schedule(2, first_s=1.0, gap_s=2.5), gray=True),
    }
    files["garbage"].write_bytes(np.random.default_rng(8).integers(0, 256, 300_000, dtype=np.uint8).tobytes())
    small = make_burst_video(tmp_path / "a.ts", [Burst(0.0, 12), Burst(3.5, 12)], container="mpegts")
    large = make_burst_video(tmp_path / "b.ts", [Burst(7.0, 12), Burst(10.5, 12)], container="mpegts",
                             size=(640, 480), lead=False)
    files["reschange"].write_bytes(small.read_bytes() + large.read_bytes())
    decodable = {cam: decoded_times(p) for cam, p in files.items()}
    assert {w for _, w, _ in decodable["reschange"]} == {320, 640}
    assert len(decodable["single"]) == 1 and not decodable["garbage"]
    expected = {cam: plates_in([t for t, _, _ in times], fps=FPS, max_unseen_s=MAX_UNSEEN_S)
                for cam, times in decodable.items()}
    assert expected == {"truncated": 2, "garbage": 0, "reschange": 4, "uhd": 1, "single": 0, "gray": 2}
    port = free_port()
    state = tmp_path / "state"
    db = tmp_path / "events.db"
    cfg = chaos_config(tmp_path / "alprd.yaml", [{"id": c, "url": str(p)} for c, p in files.items()],
                       state_dir=state, weights=chaos_weights, bus_port=port, sql_url=f"sqlite:///{db}",
                       tracking={"max_unseen_s": MAX_UNSEEN_S}, defaults={"fps": FPS})
    sub = Subscriber(f"tcp://127.0.0.1:{port}")
    try:
        res = run_alprd("--log-level", "INFO", "run", "-c", str(cfg), timeout=120, cwd=tmp_path)
    finally:
        sub.close()
    assert res.returncode == 66, res.stderr[-4000:]  # the garbage camera gave no frame (test_badinput_sources)
    assert "no frame could be read from 1 of 6 camera(s): garbage" in res.stderr
    no_tracebacks(res.stderr)
    s = stats(state)
    ledger = Ledger("corrupt input", expected, sql_finals(f"sqlite:///{db}"), sub.finals(),
                    sub.events("plate.preview"), events(state / "events.jsonl", "plate.final"),
                    counted=s["events"]["plate.final"])
    ledger.check()
    dec = s["decoders"]
    assert dec["garbage"]["sampled"] == 0 and "garbage: cannot open" in res.stderr
    assert dec["single"]["decoded"] == 1 and dec["uhd"]["width"] == 3840
    assert dec["reschange"]["width"] == 640 and "reschange: frames grew" in res.stderr
    assert dec["truncated"]["decoded"] == len(decodable["truncated"])
    assert all(v == 0 for v in s["restarts"].values()), s["restarts"]
    assert frames_accounted(s) and s["frames"]["lost"] == 0
    assert "every source has ended" in res.stderr
