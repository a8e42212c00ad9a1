"""`alprd` command line: one module per sub-command, each exposing add_parser(subparsers).

A sub-command module defines ``add_parser(sub)`` which registers its parser and sets
``func=run(args) -> int`` as the default. Exit codes: 0 ok, 1 runtime failure, 2 usage/config error.
"""
from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = (
    "recognize", "run", "check_config", "query", "subscribe", "db", "export", "status",
    "install_service", "params", "plates", "visits", "web", "broker",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="alprd", description="Licence plate recognition daemon")
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING, ERROR")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"alprd.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"alprd.cli.{name}":
                continue  # sub-command not built yet
            raise
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from alprd.process.logs import setup_logging

    setup_logging(args.log_level)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `alprd query | head`: the reader left; no traceback
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
