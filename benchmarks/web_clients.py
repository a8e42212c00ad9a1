"""Does the web console slow the daemon? Frames processed per second with 0 and with N (20)
clients on the console's live stream, side by side, in one daemon run.

    python -m benchmarks.web_clients [--clients 20] [--cameras 2] [--window 20] [--rounds 3] [--json]

The daemon (`alprd run --no-pace`, so inference is the bottleneck and any CPU taken from it shows)
plays a looping 960x540 H.264 stream of plates crossing a street (benchmarks.scenes.crossing_video,
with the weights benchmarks.pipeline picks: rendered plates for trained weights) on each camera,
every frame sampled, SQL and bus on, and the web console enabled as its child. Windows of
--window seconds alternate: no client, then --clients server-sent-event clients reading
/api/live (in one separate process, one thread each), then none again... for --rounds rounds, so
both conditions share the same machine load. Each window's rate is frames processed between the
first and the last stats.json snapshot inside it (the daemon writes one every 5 s), divided by
their written_at difference. Also reported: events each client received (they must all receive
every event), the daemon's bus sends, and the web process's CPU seconds per condition.

The clients run on the same host, so the "with" windows also pay for their CPU: an upper bound of
what remote browsers would cost the daemon.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchmarks.harness import Daemon, config, write_config
from benchmarks.ports import free_port


def _clients_body(url: str, n: int, stop, counts) -> None:
    """n SSE readers (threads) until stop is set; counts[i] = data lines client i received."""
    import httpx

    def one(i: int) -> None:
        try:
            with httpx.Client(timeout=httpx.Timeout(60, read=None)) as c:
                with c.stream("GET", url + "api/live") as r:
                    for line in r.iter_lines():
                        if line.startswith("data: "):
                            counts[i] += 1
                        if stop.is_set():
                            return
        except Exception as exc:  # noqa: BLE001 - reported as a count of -1
            print(f"client {i}: {type(exc).__name__}: {exc}", file=sys.stderr)
            counts[i] = -1

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    stop.wait()


def _cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    import os

    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _web_pid(state: Path) -> int:
    return json.loads((state / "web.json").read_text())["pid"]


def _window(d: Daemon, seconds: float) -> dict:
    """Frames processed per second over one window, from the snapshots written inside it."""
    start = time.time()
    snaps = []
    while time.time() - start < seconds:
        s = d.stats()
        if s and s.get("written_at", 0) > start and (not snaps or s["written_at"] != snaps[-1]["written_at"]):
            snaps.append(s)
        time.sleep(0.2)
    if len(snaps) < 2:
        raise RuntimeError(f"fewer than two stats snapshots in a {seconds} s window")
    a, b = snaps[0], snaps[-1]
    dt = b["written_at"] - a["written_at"]
    return {"fps": (b["frames"]["processed"] - a["frames"]["processed"]) / dt, "seconds": dt,
            "dropped": b["frames"].get("dropped", 0) - a["frames"].get("dropped", 0)}


def bench(clients: int, cameras: int, window: float, rounds: int, tmp: Path) -> dict:
    from benchmarks.pipeline import weights_and_plates
    from benchmarks.scenes import crossing_video

    weights, wdesc, style, note = weights_and_plates(None, "auto", tmp)
    video, _ = crossing_video(tmp / "crossing.mp4", size=(960, 540), seconds=12.0, plates=style)
    state = tmp / "var"
    cams = [{"id": f"cam{i}", "url": str(video), "loop": True, "fps": 25.0} for i in range(cameras)]
    doc = config(cams, state_dir=state, weights=weights,
                 sinks={"sql": {"enabled": True, "url": f"sqlite:///{tmp / 'alprd.db'}"},
                        "bus": {"enabled": True, "endpoint": f"tcp://127.0.0.1:{free_port()}"}},
                 web={"enabled": True, "port": 0})
    cfg = write_config(tmp / "alprd.yaml", doc)
    rows = {"without": [], "with": []}
    cpu = {"without": 0.0, "with": 0.0}
    clients_cpu = 0.0
    ctx = mp.get_context("spawn")
    with Daemon(cfg, tmp, "--no-pace", "--keep-running") as d:
        d.wait_ready(600)
        d.wait_for(lambda: (state / "web.json").exists(), 300, "the web console")
        url = json.loads((state / "web.json").read_text())["url"]
        web_pid = _web_pid(state)
        _window(d, window)  # warm-up, not counted
        counts = None
        for _ in range(rounds):
            for cond in ("without", "with"):
                proc = stop = None
                if cond == "with":
                    stop = ctx.Event()
                    counts = ctx.Array("l", clients)
                    proc = ctx.Process(target=_clients_body, args=(url, clients, stop, counts), daemon=True)
                    proc.start()
                    deadline = time.time() + 120
                    while time.time() < deadline:  # every client connected before the window opens
                        import httpx

                        if httpx.get(url + "api/health", timeout=30).json()["live"]["clients"] >= clients:
                            break
                        time.sleep(0.2)
                clients_cpu0 = _cpu_s(proc.pid) if proc is not None else 0.0
                c0 = _cpu_s(web_pid)
                rows[cond].append(_window(d, window))
                cpu[cond] += _cpu_s(web_pid) - c0
                if proc is not None:
                    received = list(counts)
                    clients_cpu += _cpu_s(proc.pid) - clients_cpu0
                    stop.set()
                    proc.join(30)
                    if proc.is_alive():
                        proc.kill()
                    rows[cond][-1]["events_per_client"] = received
        health = __import__("httpx").get(url + "api/health", timeout=30).json()
        final = d.stats()
        d.signal()
        code = d.wait(300)
    mean = {k: statistics.mean(r["fps"] for r in v) for k, v in rows.items()}
    return {"clients": clients, "cameras": cameras, "window_s": window, "rounds": rounds, "weights": wdesc,
            "plates": style, "note": note, "windows": rows, "mean_fps": mean,
            "change": mean["with"] / mean["without"] - 1 if mean["without"] else None,
            "web_cpu_s": cpu, "clients_cpu_s": clients_cpu, "bus_sent": ((final or {}).get("sinks") or {}).get("bus", {}).get("published"),
            "web_health": health, "exit_code": code}


def print_table(r: dict) -> None:
    print(f"web console, {r['clients']} live clients vs none: {r['cameras']} camera(s) of 960x540 H.264, "
          f"--no-pace, every frame; weights {r['weights']}, {r['plates']} plates"
          + (f" ({r['note']})" if r.get("note") else ""))
    print(f"{'round':>5}  {'fps without':>12}  {'fps with':>9}  {'events/client (min-max)':>24}")
    for i, (a, b) in enumerate(zip(r["windows"]["without"], r["windows"]["with"]), 1):
        ev = b.get("events_per_client") or []
        print(f"{i:>5}  {a['fps']:>12.2f}  {b['fps']:>9.2f}  {(f'{min(ev)}-{max(ev)}' if ev else '-'):>24}")
    m = r["mean_fps"]
    print(f"{'mean':>5}  {m['without']:>12.2f}  {m['with']:>9.2f}   change {r['change'] * 100:+.1f} %")
    print(f"web process CPU: {r['web_cpu_s']['without']:.1f} s without clients, {r['web_cpu_s']['with']:.1f} s with "
          f"({r['rounds']} x {r['window_s']:.0f} s each); the clients' process {r['clients_cpu_s']:.1f} s; "
          f"bus: 1 subscriber (the web process), "
          f"{r['web_health']['live']['received']} events received, {r['web_health']['bus']['missed']} missed")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", type=int, default=20)
    p.add_argument("--cameras", type=int, default=2)
    p.add_argument("--window", type=float, default=20.0, help="seconds per window (>= 12: two snapshots)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="alprd-web-bench-") as tmp:
        r = bench(args.clients, args.cameras, args.window, args.rounds, Path(tmp))
    if args.json:
        print(json.dumps(r, indent=1))
    else:
        print_table(r)
    return 0 if r["exit_code"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
