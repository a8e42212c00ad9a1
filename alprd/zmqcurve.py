"""CurveZMQ server set-up shared by the daemon's bus and the site broker: one place that loads a
certificate and admits clients, so both say the same things about a bad key file or folder."""
from __future__ import annotations

from pathlib import Path


def load_certificate(path: str, what: str, error: type[Exception], secret: bool = True) -> tuple[bytes, bytes | None]:
    """(public, secret) from a certificate made by zmq.auth.create_certificates; `what` names the
    option in the error; a secret key is required unless `secret` is False."""
    import zmq.auth

    try:
        public, sec = zmq.auth.load_certificate(path)
    except (OSError, ValueError) as exc:
        raise error(f"{what}: cannot load {path} ({exc})") from None
    if secret and not sec:
        raise error(f"{what}: {path} holds no secret key (use the .key_secret file)")
    return public, sec


def serve_curve(sock, ctx, public: bytes, secret: bytes, clients_dir: str | None, clients_what: str,
                error: type[Exception]):
    """Make `sock` a Curve server; with `clients_dir`, only the public keys in it are admitted (a
    started ThreadAuthenticator is returned: the caller stops it). Call before bind."""
    auth = None
    if clients_dir:
        if not Path(clients_dir).is_dir():
            raise error(f"{clients_what}: {clients_dir} is not a directory")
        from zmq.auth.thread import ThreadAuthenticator

        auth = ThreadAuthenticator(ctx)
        auth.start()
        auth.configure_curve(domain="*", location=clients_dir)
    sock.curve_secretkey, sock.curve_publickey, sock.curve_server = secret, public, True
    return auth
