"""`alprd broker`: one endpoint for a site's events, relaying every daemon's bus (docs/fleet.md)."""
from __future__ import annotations

import sys


def add_parser(sub) -> None:
    p = sub.add_parser("broker", help="relay the buses of several daemons to one endpoint (docs/fleet.md)")
    p.add_argument("--upstream", action="append", default=[], metavar="ENDPOINT", required=True,
                   help="a daemon's sinks.bus.endpoint, e.g. tcp://10.0.0.11:5556 (repeat for each daemon)")
    p.add_argument("--bind", default="tcp://127.0.0.1:5560", metavar="ENDPOINT",
                   help="where subscribers connect (default tcp://127.0.0.1:5560)")
    p.add_argument("--upstream-server-key", metavar="FILE",
                   help="CurveZMQ to the daemons: their bus's public certificate (.key)")
    p.add_argument("--upstream-client-key", metavar="FILE",
                   help="CurveZMQ to the daemons: this broker's secret certificate (.key_secret), "
                        "admitted in each daemon's sinks.bus.curve_clients_dir")
    p.add_argument("--curve-secret-key", metavar="FILE",
                   help="CurveZMQ for subscribers: this broker's server secret certificate")
    p.add_argument("--curve-clients-dir", metavar="DIR",
                   help="CurveZMQ for subscribers: public certificates of the subscribers admitted")
    p.set_defaults(func=run)


def run(args) -> int:
    import signal
    import threading

    from alprd.fleet.broker import Broker, BrokerError, Curve

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    try:
        curve = Curve(args.upstream_server_key, args.upstream_client_key, args.curve_secret_key,
                      args.curve_clients_dir)
        broker = Broker(args.bind, args.upstream, curve=curve).start()
    except BrokerError as exc:
        print(f"alprd broker: {exc}", file=sys.stderr)
        return 2
    secured = [side for side, on in (("upstream", args.upstream_server_key), ("subscribers", args.curve_secret_key)) if on]
    print(f"alprd broker: relaying {len(args.upstream)} daemon(s) at {broker.endpoint}"
          + (f" (CurveZMQ: {', '.join(secured)})" if secured else ""), file=sys.stderr, flush=True)
    while not stop.wait(1.0):
        pass
    broker.stop()
    print(f"alprd broker: stopped ({broker.messages} messages relayed)", file=sys.stderr, flush=True)
    return 0
