"""`alprd run [-c FILE]`: the daemon. Without -c it runs /etc/alprd/alprd.yaml when the service is
installed, else the embedded default configuration (alprd/data/alprd.yaml, the same file as
config/alprd.yaml): the bundled sample video, events on stdout, in var/events.jsonl, var/alprd.db
and on the loopback ZeroMQ bus. Every command resolves -c the same way (config.default_config_path).

Exit codes: 0 orderly stop (signal, or every file source ended), 1 runtime failure (the model
would not load, a sink could not flush), 2 configuration error (reported before anything starts).
"""
from __future__ import annotations

import logging
import sys
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_CONFIG_HELP = ("YAML configuration (default: /etc/alprd/alprd.yaml if it exists, else the embedded "
                       "alprd/data/alprd.yaml: the bundled sample video, state in ./var)")


def default_config_path() -> Path:
    from alprd.config import default_config_path as default

    return default()


def load_checked(path: str | None):
    """(config, path) or (None, path) after printing every problem to stderr."""
    from alprd.config import ConfigError, load_config
    from alprd.service import preflight

    p = Path(path) if path else default_config_path()
    try:
        cfg = load_config(p)
    except ConfigError as exc:
        for line in exc.lines:
            print(f"error: {line}", file=sys.stderr)
        return None, p
    found = preflight.problems(cfg)
    for line in found:
        print(f"error: {p}: {line}", file=sys.stderr)
    return (None if found else cfg), p


EXIT_TEMPFAIL = 75  # sysexits.h EX_TEMPFAIL: try again later


def add_parser(sub) -> None:
    p = sub.add_parser("run", help="run the daemon: cameras → plates → events")
    p.add_argument("-c", "--config", help=DEFAULT_CONFIG_HELP)
    p.add_argument("--no-pace", action="store_true",
                   help="decode files as fast as possible instead of at their own frame rate (benchmarks)")
    p.add_argument("--keep-running", action="store_true",
                   help="do not stop when every file source has ended (wait for a signal)")
    p.set_defaults(func=run)


def run(args) -> int:
    cfg, path = load_checked(args.config)
    if cfg is None:
        return 2
    from alprd.service.daemon import Daemon
    from alprd.service.private import restrict_umask
    from alprd.sinks.factory import SinkStartError

    restrict_umask()  # plates, crops and the database: never world-readable (SECURITY.md)
    log.info("configuration %s", path)
    try:
        daemon = Daemon(cfg, pace_files=False if args.no_pace else None,
                        exit_when_sources_end=not args.keep_running, config_path=path)
        return daemon.run()
    except SinkStartError as exc:
        print(f"error: {exc}", file=sys.stderr)
        # a port held by another process may be freed (an old alprd stopping): EX_TEMPFAIL, which
        # the unit restarts after RestartSec; everything else is the configuration's (exit 2)
        return EXIT_TEMPFAIL if getattr(exc.__cause__, "temporary", False) else 2
