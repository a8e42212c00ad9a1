"""`alprd status [-c CONFIG] [--json]`: where a running daemon stands, for a human at the host.

It reads <storage.state_dir>/stats.json, which the daemon rewrites every 5 seconds (and once
more when it stops): the same snapshot the Prometheus endpoint serves, so it works with metrics
disabled, without network access and without talking to the process. The daemon counts as
running when the file is fresh (written less than 20 s ago), not marked final, and its pid lives.

Default config: /etc/alprd/alprd.yaml when it exists (the installed service), else the embedded
default (config.default_config_path, as every command). A relative state_dir is taken relative
to the current directory, as `alprd run` does; --state-dir overrides it. The tables are plain
text that keeps every cell at any terminal width.

Exit codes: 0 running and healthy, 1 running but unhealthy, 2 configuration error,
3 not running (stopped, crashed, or never started).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from alprd.config import SERVICE_CONFIG
from alprd.statsfile import FRESH_S, assess  # noqa: F401  (FRESH_S: shared with the web console)


def add_parser(sub) -> None:
    p = sub.add_parser("status", help="show the running daemon's cameras, throughput, sinks and storage")
    p.add_argument("-c", "--config", help=f"YAML configuration (default: {SERVICE_CONFIG} if it exists, "
                                          "else the embedded default)")
    p.add_argument("--state-dir", help="read stats.json from this directory instead of the config's state_dir")
    p.add_argument("--json", action="store_true", help="print the snapshot as JSON (with 'running' and 'age_s')")
    p.set_defaults(func=run)


def _stats_path(args) -> Path | None:
    if args.state_dir:
        return Path(args.state_dir) / "stats.json"
    from alprd.config import ConfigError, default_config_path, load_config

    path = Path(args.config) if args.config else default_config_path()
    try:
        cfg = load_config(path)
    except ConfigError as exc:
        for line in exc.lines:
            print(f"error: {line}", file=sys.stderr)
        return None
    return cfg.state_path("stats.json")


def run(args) -> int:
    path = _stats_path(args)
    if path is None:
        return 2
    try:
        s = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        print(f"alprd is not running: no {path} (never started with this state_dir?)", file=sys.stderr)
        return 3
    except (OSError, ValueError) as exc:
        print(f"error: cannot read {path}: {exc}", file=sys.stderr)
        return 3
    if not isinstance(s, dict):
        print(f"error: {path}: not a stats snapshot (a JSON object was expected)", file=sys.stderr)
        return 3
    try:
        touched = path.stat().st_mtime
    except OSError:
        touched = None
    s = assess(s, touched=touched)
    if "figures_age_s" in s:
        print(f"note: these figures are {s['figures_age_s']:.0f} s old: the daemon cannot rewrite "
              f"{path} (is its disk full?)", file=sys.stderr)
    if args.json:
        print(json.dumps(s, indent=1, ensure_ascii=False))
    else:
        try:
            text = render_text(s, path)
        except (TypeError, ValueError, AttributeError) as exc:  # a damaged or foreign stats.json
            print(f"error: {path}: malformed stats snapshot ({type(exc).__name__}: {exc})", file=sys.stderr)
            return 3
        print(text)
    if not s["running"]:
        return 3
    return 0 if s.get("healthy", True) else 1


def _n(x) -> str:
    return f"{int(x):,}" if isinstance(x, (int, float)) else "-"


def _dur(seconds) -> str:
    if not isinstance(seconds, (int, float)):
        return "-"
    seconds = int(seconds)
    d, rest = divmod(seconds, 86400)
    h, rest = divmod(rest, 3600)
    m, sec = divmod(rest, 60)
    return (f"{d}d " if d else "") + (f"{h}h " if d or h else "") + f"{m}m {sec:02d}s"


def _ms(v) -> str:
    return f"≤{v * 1000:.0f} ms" if isinstance(v, (int, float)) else "-"


def _f(x, fmt: str = ".1f") -> str:
    return format(x, fmt) if isinstance(x, (int, float)) else "-"


def _deliveries(d: dict) -> str:
    """Webhook targets and MQTT: what reached the receiver, what waits, what was given up."""
    if "delivered" not in d:
        return "-"
    out = (f"{_n(d['delivered'])} delivered, {_n(d.get('pending'))} pending, "
           f"{_n(d.get('retried'))} retried, {_n(d.get('given_up'))} given up")
    return out + (f", {_n(d['refused'])} refused" if d.get("refused") else "")


def render_text(s: dict, path: Path) -> str:
    """The snapshot for a human: plain text whose tables keep every cell at any terminal width
    (rich cut camera ids and sink names to fit 80 columns, and a pipe counts as 80)."""
    from alprd.cli.textable import format_table

    if s["running"]:
        state = "running" if s.get("healthy", True) else f"UNHEALTHY: {s.get('health')}"
    else:
        state = "stopped" if s.get("final") else "not running (stale snapshot)"
    lat = s.get("batch_latency_s") or {}
    f = s.get("frames") or {}
    events = s.get("events") or {}
    out = [
        f"alprd {state}  pid {s.get('pid', '-')}  up {_dur(s.get('uptime_s'))}  "
        f"snapshot {s.get('age_s', '-')} s old ({path})",
        f"throughput {_f(s.get('recent_fps', 0))} fps now, {_f(s.get('processed_fps', 0))} fps overall; "
        f"batches {_n(s.get('batches'))}, mean {_f(s.get('mean_batch', 0))} frames, "
        f"latency p50 {_ms(lat.get('p50'))} p95 {_ms(lat.get('p95'))}; in flight {_n(s.get('in_flight', 0))}",
        f"frames received {_n(f.get('received'))}, processed {_n(f.get('processed'))}, "
        f"dropped {_n(f.get('dropped'))}, stale {_n(f.get('stale'))}, lost {_n(f.get('lost'))}; "
        f"open tracks {_n(s.get('open_tracks'))}; events "
        f"{_n(events.get('plate.preview', 0))} preview, {_n(events.get('plate.final', 0))} final"
        + (f"; metrics {s['metrics_url']}" if s.get("metrics_url") else ""),
        "",
        "cameras",
    ]
    rows = []
    decs = s.get("decoders") or {}
    for cid, c in (s.get("cameras") or {}).items():
        d = decs.get(cid) or {}
        ev = c.get("events") or {}
        link = "up" if c.get("connected") else "down"
        if c.get("state") not in (None, "running"):
            link = str(c["state"])
        skipped = sum(c.get(k, 0) for k in ("dropped", "stale", "lost"))
        rows.append((cid, link, _f(c.get("fps", 0)), _n(c.get("processed")), _n(skipped), _n(c.get("waiting")),
                     _n(c.get("open_tracks")),
                     f"{_n(ev.get('plate.preview', 0))}/{_n(ev.get('plate.final', 0))}", _n(d.get("reconnects"))))
    out.append(format_table(("camera", "link", "fps", "inferred", "skipped", "queue", "tracks", "events",
                             "reconnects"), rows, right=range(2, 9)))
    out.append("skipped = dropped (inference behind) + stale + lost; queue = frames waiting; "
               "events = previews/finals")
    out += ["", "sinks"]
    rows = []
    for name, d in (s.get("sinks") or {}).items():
        spool = f"{d['spool_bytes'] / 1024:.1f} KiB" if "spool_bytes" in d else "-"
        if d.get("available") == 0:
            spool += " (target unavailable)"
        rows.append((name, _n(d.get("published")), _n(d.get("failed")), _n(d.get("dropped")),
                     _n(d.get("queued")), f"{_f(d.get('lag_s', 0))} s", spool, _deliveries(d)))
    out.append(format_table(("sink", "published", "failed", "dropped", "queued", "lag", "spool", "deliveries"),
                            rows, right=range(1, 7)))
    from alprd.parking.report import parking_line

    if (line := parking_line(s)):
        out += ["", line]
    c = s.get("crops") or {}
    restarts = ", ".join(f"{k} {v}" for k, v in (s.get("restarts") or {}).items() if v) or "none"
    reloads = s.get("reloads") or {}
    out += ["", f"crops {_n(c.get('files'))} files, {_f((c.get('bytes') or 0) / 1024 / 1024)} MiB; "
                f"saved {_n(c.get('saved'))}, failed {_n(c.get('failed'))}"
                + (" (failing now)" if c.get("failing") else "")
                + f", removed by retention {_n(c.get('removed'))}; restarts: {restarts}; "
                f"reloads: {reloads.get('ok', 0)} ok, {reloads.get('failed', 0)} failed"]
    return "\n".join(out)
