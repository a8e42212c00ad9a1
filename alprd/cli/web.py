"""`alprd web`: the console and HTTP API on their own, e.g. on another host than the daemon.

It reads the SQL database and subscribes to the bus of -c CONFIG (or the embedded default), with
--url and --bus for a remote database and daemon, and --state-dir for the stats.json and crops
it can see. `alprd run` starts the same server as a supervised child when web.enabled is true.
"""
from __future__ import annotations

import sys


def add_parser(sub) -> None:
    p = sub.add_parser("web", help="serve the web console and HTTP API (docs/web.md)")
    p.add_argument("-c", "--config", metavar="CONFIG", help="default: the config `alprd run` uses without -c")
    p.add_argument("--bind", metavar="ADDR", help="default: web.bind (127.0.0.1); others need a credential")
    p.add_argument("--port", type=int, metavar="N", help="default: web.port (8780); 0 = any free port")
    p.add_argument("--url", metavar="DB_URL", help="database URL (default: sinks.sql.url of the config)")
    p.add_argument("--bus", metavar="ENDPOINT", help="bus endpoint (default: sinks.bus.endpoint of the config)")
    p.add_argument("--state-dir", metavar="DIR", help="stats.json and crops/ (default: storage.state_dir)")
    p.set_defaults(func=run)


def _fail(msg: str, code: int = 2) -> int:
    print(f"alprd web: {msg}", file=sys.stderr)
    return code


def run(args) -> int:
    from alprd.config import ConfigError, default_config_path, load_config
    from alprd.service.private import restrict_umask
    from alprd.web.settings import WebError, from_config

    if args.port is not None and not 0 <= args.port <= 65535:
        return _fail(f"--port {args.port}: a port is 0 to 65535")
    try:
        cfg = load_config(args.config or default_config_path())
        settings = from_config(cfg, db_url=args.url, bus=args.bus, bind=args.bind, port=args.port,
                               state_dir=args.state_dir)
    except ConfigError as exc:
        for line in exc.lines:
            print(f"alprd web: {line}", file=sys.stderr)
        return 2
    except WebError as exc:
        return _fail(str(exc))
    restrict_umask()
    import signal
    import threading

    from alprd.web.server import serve

    stop = threading.Event()  # SIGTERM/SIGINT: an orderly stop and exit 0 (uvicorn's own re-raise them)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    try:
        return serve(settings, stop=stop, own_signals=False)
    except WebError as exc:
        return _fail(str(exc), 1)
