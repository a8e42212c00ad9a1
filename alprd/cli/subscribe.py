"""`alprd subscribe`: print live plate events from a daemon's (or a proxy's) ZeroMQ bus."""
from __future__ import annotations

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
    from alprd.config import default_config_path, load_config

    return load_config(args.config or default_config_path()).sinks.bus.endpoint


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
    return (f"{t} {kind:<7} {event.camera_id:<12} {event.plate:<10} {float(event.confidence):.2f} "
            f"reads={event.reads} {event.direction}{parked}")


def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _typed(event):
    """The event, if its fields have the types of the schema (docs/events.md); else ValueError.
    The bus carries JSON from any publisher (a fleet proxy included), and from_json does not
    check types: a string confidence would reach a --json consumer, or break the table."""
    wrong = [name for name, ok in (
        ("camera_id", isinstance(event.camera_id, str)), ("plate", isinstance(event.plate, str)),
        ("confidence", _number(event.confidence)), ("reads", isinstance(event.reads, int)),
        ("track_id", isinstance(event.track_id, int)), ("direction", isinstance(event.direction, str)),
        ("parked", isinstance(event.parked, bool))) if not ok]
    if wrong:
        raise ValueError(f"wrongly typed field(s): {', '.join(wrong)}")
    return event


def _say(msg: str) -> None:
    print(f"alprd subscribe: {msg}", file=sys.stderr, flush=True)


class LinkWatch:
    """Says on stderr what the SUB socket is doing (nothing listening, connected, refused), from
    ZeroMQ's socket monitor: a wrong endpoint or key must not look like a quiet car park."""

    def __init__(self, sock, endpoint: str, curve: bool) -> None:
        import zmq

        self.endpoint, self.curve = endpoint, curve
        self.mon = sock.get_monitor_socket(zmq.EVENT_CONNECT_RETRIED
                                           | zmq.EVENT_DISCONNECTED | zmq.EVENT_HANDSHAKE_SUCCEEDED
                                           | zmq.EVENT_HANDSHAKE_FAILED_AUTH
                                           | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
                                           | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL)
        self.retried = False
        self.up = False

    def poll(self) -> str | None:
        """Report what happened; a fatal problem's message (the caller exits 1), else None."""
        import zmq
        from zmq.utils.monitor import recv_monitor_message

        while self.mon.poll(0):
            ev = recv_monitor_message(self.mon)["event"]
            if ev == zmq.EVENT_CONNECT_RETRIED and not self.retried and not self.up:
                self.retried = True
                _say(f"nothing answers on {self.endpoint} yet (is the daemon running, and is this "
                     "its sinks.bus.endpoint?); still trying")
            elif ev == zmq.EVENT_HANDSHAKE_SUCCEEDED:  # ZMTP's handshake, plain or CurveZMQ
                if not self.up:
                    self.up = True
                    _say(f"connected to {self.endpoint}" + (" (CurveZMQ)" if self.curve else ""))
            elif ev == zmq.EVENT_DISCONNECTED and self.up:
                self.up = False
                _say(f"{self.endpoint} went away; reconnecting")
            elif ev in (zmq.EVENT_HANDSHAKE_FAILED_AUTH, zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL,
                        zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL):
                if self.curve:
                    return (f"{self.endpoint} refused the CurveZMQ handshake: --server-key is not the "
                            "daemon's public key, or the daemon does not admit this client's key "
                            "(sinks.bus.curve_clients_dir)")
                return (f"{self.endpoint} refused the handshake: the daemon's bus is encrypted "
                        "(CurveZMQ); pass --server-key with its public certificate")
        return None

    def close(self) -> None:
        self.mon.close(linger=0)


def run(args) -> int:
    import signal

    import zmq

    from alprd.config import ConfigError
    from alprd.events import PlateEvent
    from alprd.process.signals import recorded
    from alprd.sinks.bus import SequenceGaps

    try:
        endpoint = _endpoint(args)
    except ConfigError as exc:
        for line in exc.lines:
            _say(line)
        return 2
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.SUB)
    sock.setsockopt(zmq.LINGER, 0)
    try:
        if args.server_key:
            _curve(sock, args)
        watch = LinkWatch(sock, endpoint, curve=bool(args.server_key))
        sock.connect(endpoint)
    except (OSError, ValueError, zmq.ZMQError) as exc:
        _say(f"{endpoint}: {exc}")
        sock.close()
        return 2
    sock.setsockopt_string(zmq.SUBSCRIBE, args.topic)
    _say(f"waiting for events with topic prefix {args.topic!r} from {endpoint}"
         + (f" (exit after {args.count})" if args.count else "") + "; Ctrl-C to stop")
    seen = skipped = 0
    gaps = SequenceGaps()
    code = 0
    # SIGINT and SIGTERM end the loop the same way, summary included (exit 130, as Ctrl-C): a
    # supervisor stops with SIGTERM, and a shell starts background jobs with SIGINT ignored, where
    # Python installs no handler of its own and Ctrl-C or `kill -INT` would do nothing.
    stopped: list[int] = []
    with recorded(stopped, (signal.SIGINT, signal.SIGTERM)):
        try:
            while (not args.count or seen < args.count) and not stopped:
                fatal = watch.poll()
                if fatal:
                    _say(fatal)
                    code = 1
                    break
                if not sock.poll(250):
                    continue
                frames = sock.recv_multipart()
                if len(frames) not in (2, 3):   # [topic, json] or [topic, json, sequence]
                    skipped += 1
                    _say(f"skipping a {len(frames)}-frame message")
                    continue
                try:
                    lost = gaps.observe(frames[0], frames[2]) if len(frames) == 3 else 0
                except Exception:  # a sequence frame that is not one: not worth dying for
                    lost = 0
                if lost:
                    _say(f"{lost} event(s) on {frames[0].decode('utf-8', 'replace')} never arrived (this "
                         "subscriber fell behind, or the daemon's bus queue overflowed); the SQL database "
                         "has them (alprd query)")
                try:
                    line = frames[1].decode("utf-8")
                    event = _typed(PlateEvent.from_json(line))  # --json too: a wrongly typed event is skipped
                    text = line if args.json else format_line(event)
                except Exception as exc:  # any publisher can send anything: skip it, never die
                    skipped += 1
                    _say(f"skipping a malformed event ({type(exc).__name__}: {str(exc)[:120]})")
                    continue
                print(text, flush=True)
                seen += 1
        finally:
            watch.close()
            sock.close()
            if gaps.missed:
                _say(f"{gaps.missed} event(s) missed in all")
            if skipped:
                _say(f"{skipped} malformed message(s) skipped in all")
    return 130 if stopped else code
