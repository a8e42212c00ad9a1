"""A three-host site on loopback (docs/fleet.md): three real `alprd run` daemons (rigged weights,
one short camera each), one `alprd broker`, one PostgreSQL (tests/pg.py) and `alprd subscribe`
reading the whole site from the broker. The broker is stopped and started again while the cameras
run: the subscriber reports exactly the finals it missed, by sequence number, and SQL still holds
every final of every host once; `alprd query` reads them all.

Each camera's video is SEGMENTS bursts of frames, GAP_S apart on the stream's clock: the rigged
detector reads one plate "A" in every frame, so every burst is one track and one final (the
camera is silent for longer than tracking.max_unseen_s). The run is paced by the videos (~17 s).
"""
from __future__ import annotations

import json
import signal
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "daemon"))
from helpers_daemon import DaemonProcess, hang_guard, make_rigged_weights, run_alprd, write_config  # noqa: E402
from pg import pg_server  # noqa: E402,F401  (fixture)
from waiting import wait_until  # noqa: E402
from benchmarks.ports import free_port

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

HOSTS = ("north", "south", "east")
SEGMENTS = 4          # finals per camera
BURST = 5             # frames per burst, 10 fps
GAP_S = 3.5           # between bursts, on the stream's clock: a track ends when its camera is silent
                      # for tracking.max_unseen_s (1 s), with room for a loaded machine's delays
LEAD_S = 1.0          # first burst after this much stream time (a lone first frame before it)
WAIT_S = hang_guard(300)


def burst_video(path: Path) -> Path:
    """SEGMENTS bursts of BURST frames at 10 fps, GAP_S apart (pts jump), 320x240 H.264."""
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=Fraction(10))
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 10)
        stream.codec_context.options = {"preset": "ultrafast", "tune": "zerolatency", "bf": "0"}
        stream.codec_context.gop_size = BURST
        tick = 0
        times = [0] + [int(round((LEAD_S + k * (BURST / 10 + GAP_S)) * 10)) + i
                       for k in range(SEGMENTS) for i in range(BURST)]
        for tick in times:
            img = np.full((240, 320, 3), 40 + (tick * 7) % 160, np.uint8)
            frame = av.VideoFrame.from_ndarray(img, format="bgr24")
            frame.pts, frame.time_base = tick, Fraction(1, 10)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


class Subscribe:
    """`alprd subscribe --json` on the broker, finals only; stdout and stderr collected in files."""

    def __init__(self, endpoint: str, workdir: Path) -> None:
        self.out, self.err = workdir / "subscribe.out", workdir / "subscribe.err"
        self._files = [open(self.out, "w"), open(self.err, "w")]
        self.proc = subprocess.Popen([sys.executable, "-m", "alprd", "subscribe", "--json", "--topic",
                                      "plate.final.", "--endpoint", endpoint],
                                     stdout=self._files[0], stderr=self._files[1], text=True)

    def events(self) -> list[dict]:
        return [json.loads(line) for line in self.out.read_text().splitlines() if line.strip()]

    def said(self) -> str:
        return self.err.read_text()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(WAIT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        for f in self._files:
            f.close()


def start_broker(bind: str, upstreams: list[str], workdir: Path, n: int) -> subprocess.Popen:
    args = [sys.executable, "-m", "alprd", "broker", "--bind", bind]
    for up in upstreams:
        args += ["--upstream", up]
    err = open(workdir / f"broker{n}.err", "w")
    proc = subprocess.Popen(args, stderr=err, text=True)
    assert wait_until(lambda: "relaying" in (workdir / f"broker{n}.err").read_text(), WAIT_S), \
        (workdir / f"broker{n}.err").read_text()
    return proc


def finals_on_stdout(daemon: DaemonProcess) -> int:
    return sum(1 for line in daemon.stdout.splitlines() if '"plate.final"' in line)


@pytest.fixture(scope="module")
def site(tmp_path_factory, pg_server):  # noqa: F811
    if not pg_server.running():
        pg_server.start()
    root = tmp_path_factory.mktemp("site")
    url = pg_server.create_database()
    res = run_alprd("db", "upgrade", "--url", url, timeout=WAIT_S)
    assert res.returncode == 0, res.stderr
    weights = make_rigged_weights(root / "rigged.pt")
    video = burst_video(root / "bursts.mp4")
    buses = {h: f"tcp://127.0.0.1:{free_port()}" for h in HOSTS}
    bind = f"tcp://127.0.0.1:{free_port()}"
    brokers = [start_broker(bind, list(buses.values()), root, 0)]
    sub = Subscribe(bind, root)
    daemons: dict[str, DaemonProcess] = {}
    try:
        assert wait_until(lambda: "connected to" in sub.said(), WAIT_S), sub.said()
        for host in HOSTS:
            state = root / host
            state.mkdir()
            cfg = write_config(state / "alprd.yaml", [{"id": f"{host}-gate", "url": str(video)}],
                               state_dir=state, weights=weights)
            d = yaml.safe_load(cfg.read_text())
            d["sinks"].update({"sql": {"enabled": True, "url": url, "flush_interval_s": 0.2},
                               "bus": {"enabled": True, "endpoint": buses[host]}})
            cfg.write_text(yaml.safe_dump(d))
            daemons[host] = DaemonProcess(cfg, state)
        # the broker goes down once every host has sent a final, and comes back once every
        # host has sent another while it was down (those are lost to the subscriber)
        assert wait_until(lambda: all(finals_on_stdout(d) >= 1 for d in daemons.values()), WAIT_S)
        brokers[0].send_signal(signal.SIGTERM)
        assert brokers[0].wait(WAIT_S) == 0
        down_at = {h: finals_on_stdout(d) for h, d in daemons.items()}
        assert wait_until(lambda: all(finals_on_stdout(daemons[h]) > down_at[h] for h in HOSTS), WAIT_S)
        brokers.append(start_broker(bind, list(buses.values()), root, 1))
        for d in daemons.values():
            assert d.wait(WAIT_S) == 0, d.stderr[-3000:]
        # every final has been published when the daemons have exited; the relay may still hold some
        wait_until(lambda: len(sub.events()) + _missed(sub.said()) >= len(HOSTS) * SEGMENTS, 60)
        sub.stop()
        yield {"url": url, "daemons": daemons, "sub": sub, "root": root, "stored": _stored(url)}
    finally:
        sub.stop()
        for d in daemons.values():
            d.close()
        for b in brokers:
            if b.poll() is None:
                b.send_signal(signal.SIGTERM)
                try:
                    b.wait(60)
                except subprocess.TimeoutExpired:
                    b.kill()


def _missed(said: str) -> int:
    """What `alprd subscribe` said it missed: the sum of its 'N event(s) on TOPIC never arrived'."""
    total = 0
    for line in said.splitlines():
        if "never arrived" in line:
            total += int(line.split("alprd subscribe: ", 1)[1].split(" ", 1)[0])
    return total


def _stored(url: str) -> list[dict]:
    res = run_alprd("query", "--url", url, "--json", "--limit", "0", timeout=WAIT_S)
    assert res.returncode == 0, res.stderr
    return [json.loads(line) for line in res.stdout.splitlines() if line.strip()]


def test_every_final_of_every_host_is_in_sql_once(site):
    stored = site["stored"]  # alprd query --json --limit 0: the whole site
    by_camera = {h: [e for e in stored if e["camera_id"] == f"{h}-gate"] for h in HOSTS}
    assert {h: len(v) for h, v in by_camera.items()} == {h: SEGMENTS for h in HOSTS}
    assert all(e["plate"] == "A" and e["kind"] == "plate.final" for e in stored)
    ids = [e["event_id"] for e in stored]
    assert len(set(ids)) == len(ids) == len(HOSTS) * SEGMENTS  # unique across hosts
    # and what each daemon printed is what SQL holds
    for h, d in site["daemons"].items():
        printed = {json.loads(line)["event_id"] for line in d.stdout.splitlines() if '"plate.final"' in line}
        assert printed == {e["event_id"] for e in by_camera[h]}


def test_the_subscriber_got_every_final_once_or_reported_it_missing(site):
    stored = {e["event_id"] for e in site["stored"]}
    got = site["sub"].events()
    ids = [e["event_id"] for e in got]
    assert len(set(ids)) == len(ids), "a final arrived twice"
    assert set(ids) <= stored
    missed = _missed(site["sub"].said())
    assert missed >= len(HOSTS), site["sub"].said()  # at least one per host while the broker was down
    assert len(ids) + missed == len(stored), (len(ids), missed, site["sub"].said())
    assert f"{missed} event(s) missed in all" in site["sub"].said()
    # every host reached the subscriber through the broker, before and after the restart
    assert {e["camera_id"] for e in got} == {f"{h}-gate" for h in HOSTS}


def test_query_reads_one_camera_of_the_site(site):
    res = run_alprd("query", "--url", site["url"], "--camera", "south-gate", "--json", "--limit", "0",
                    timeout=WAIT_S)
    assert res.returncode == 0, res.stderr
    assert [json.loads(line)["camera_id"] for line in res.stdout.splitlines()] == ["south-gate"] * SEGMENTS
