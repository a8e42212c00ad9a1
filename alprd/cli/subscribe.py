"""`alprd subscribe`: print live plate events from a daemon's (or a proxy's) ZeroMQ bus."""
from __future__ import annotations

import json
import sys


def add_parser(sub) -> None:
    p = sub.add_parser("subscribe", help="print live plate events from the ZeroMQ bus")
    p.add_argument("--topic", default="plate.", metavar="PREFIX",
                   help="topic prefix: plate.final. (finals only), plate.final.gate1 (one camera); "
                        "default plate. (everything)")
    p.add_argument("--endpoint", metavar="E", help="default: sinks.bus.endpoint of -c CONFIG, "
                                                   "else tcp://127.0.0.1:5556")
    p.add_argument("-c", "--config", metavar="CONFIG", help="take the endpoint from this config")
    p.add_argument("--json", action="store_true", help="print each event's JSON unchanged")
    p.add_argument("--count", type=int, default=0, metavar="N", help="exit after N events")
    p.add_argument("--server-key", metavar="FILE",
                   help="CurveZMQ: the daemon's public certificate (.key) to encrypt the link")
    p.add_argument("--client-key", metavar="FILE",
                   help="CurveZMQ: this client's secret certificate (.key_secret), when the daemon "
                        "only admits known clients (default: a fresh key pair)")
    p.set_defaults(func=run)


def _endpoint(args) -> str:
    if args.endpoint:
        return args.endpoint
    if args.config:
        from alprd.config import load_config

        return load_config(args.config).sinks.bus.endpoint
    from alprd.config import BusSinkConfig

    return BusSinkConfig().endpoint


def _curve(sock, args) -> None:
    import zmq
    import zmq.auth

    server_public, _ = zmq.auth.load_certificate(args.server_key)
    if args.client_key:
        public, secret = zmq.auth.load_certificate(args.client_key)
        if not secret:
            raise ValueError(f"{args.client_key} holds no secret key (use the .key_secret file)")
    else:
        public, secret = zmq.curve_keypair()
    sock.curve_serverkey = server_public
    sock.curve_publickey = public
    sock.curve_secretkey = secret


def format_line(event) -> str:
    """One human line: local time, kind, camera, plate, confidence, reads, direction."""
    kind = event.kind.split(".")[-1]
    t = event.last_seen.astimezone().strftime("%H:%M:%S")
    parked = " parked" if event.parked else ""
    return (f"{t} {kind:<7} {event.camera_id:<12} {event.plate:<10} {event.confidence:.2f} "
            f"reads={event.reads} {event.direction}{parked}")


def run(args) -> int:
    import zmq

    from alprd.config import ConfigError
    from alprd.events import PlateEvent
    from alprd.sinks.bus import SequenceGaps

    try:
        endpoint = _endpoint(args)
    except ConfigError as exc:
        print(f"alprd subscribe: {exc}", file=sys.stderr)
        return 2
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.SUB)
    sock.setsockopt(zmq.LINGER, 0)
    try:
        if args.server_key:
            _curve(sock, args)
        sock.connect(endpoint)
    except (OSError, ValueError, zmq.ZMQError) as exc:
        print(f"alprd subscribe: {endpoint}: {exc}", file=sys.stderr)
        sock.close()
        return 2
    sock.setsockopt_string(zmq.SUBSCRIBE, args.topic)
    seen = 0
    gaps = SequenceGaps()
    try:
        while not args.count or seen < args.count:
            if not sock.poll(500):
                continue
            frames = sock.recv_multipart()
            if len(frames) not in (2, 3):   # [topic, json] or [topic, json, sequence]
                print(f"alprd subscribe: skipping a {len(frames)}-frame message", file=sys.stderr)
                continue
            lost = gaps.observe(frames[0], frames[2]) if len(frames) == 3 else 0
            if lost:
                print(f"alprd subscribe: {lost} event(s) on {frames[0].decode('utf-8', 'replace')} never "
                      "arrived (this subscriber fell behind, or the daemon's bus queue overflowed); "
                      "the SQL database has them (alprd query)", file=sys.stderr, flush=True)
            try:
                line = frames[1].decode("utf-8")
                event = PlateEvent.from_json(line)
            except (UnicodeDecodeError, ValueError, TypeError, KeyError, json.JSONDecodeError) as exc:
                print(f"alprd subscribe: skipping a malformed event ({exc})", file=sys.stderr)
                continue
            print(line if args.json else format_line(event), flush=True)
            seen += 1
    finally:
        sock.close()
        if gaps.missed:
            print(f"alprd subscribe: {gaps.missed} event(s) missed in all", file=sys.stderr)
    return 0
