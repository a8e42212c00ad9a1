"""`alprd broker`: one endpoint for a site's events, relaying every daemon's bus (docs/fleet.md)."""
from __future__ import annotations

import sys


def add_parser(sub) -> None:
    p = sub.add_parser("broker", help="relay the buses of several daemons to one endpoint (docs/fleet.md)")
    p.add_argument("--upstream", action="append", default=[], metavar="ENDPOINT", required=True,
                   help="a daemon's sinks.bus.endpoint, e.g. tcp://10.0.0.11:5556 (repeat for each daemon)")
    p.add_argument("--bind", default="tcp://127.0.0.1:5560", metavar="ENDPOINT",
                   help="where subscribers connect (default tcp://127.0.0.1:5560)")
    p.set_defaults(func=run)


def run(args) -> int:
    import signal
    import threading

    from alprd.fleet.broker import Broker, BrokerError

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    try:
        broker = Broker(args.bind, args.upstream).start()
    except BrokerError as exc:
        print(f"alprd broker: {exc}", file=sys.stderr)
        return 2
    print(f"alprd broker: relaying {len(args.upstream)} daemon(s) at {broker.endpoint}", file=sys.stderr,
          flush=True)
    while not stop.wait(1.0):
        pass
    broker.stop()
    print(f"alprd broker: stopped ({broker.messages} messages relayed)", file=sys.stderr, flush=True)
    return 0
