"""Who may read and who may write: a pure ASGI middleware in front of every route and file.

With no credential configured (only possible on a loopback bind, settings.check_bind) every read
is open and every write is refused (403). With a token or basic auth configured, every request
(the page, its files, the API, the live stream) needs one: ``Authorization: Bearer <token>``, or
basic auth with the configured user and password, or any user with the token as the password (so
a browser's own login prompt works with a token). Comparisons are constant-time.
"""
from __future__ import annotations

import base64
import binascii
import hmac
import json

from alprd.web.settings import Credentials

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
# Every response: no sniffing, no framing, scripts and images only from this origin.
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"content-security-policy",
     b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'"),
]


def _eq(a: str | None, b: str) -> bool:
    return a is not None and hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


def authorized(creds: Credentials, header: str | None) -> bool:
    """Whether an Authorization header value carries a configured credential."""
    if not header:
        return False
    scheme, _, value = header.strip().partition(" ")
    scheme, value = scheme.lower(), value.strip()
    if scheme == "bearer":
        return bool(creds.token) and _eq(creds.token, value)
    if scheme == "basic":
        try:
            user, sep, password = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return False
        if not sep:
            return False
        if creds.password and creds.username is not None and _eq(creds.username, user) and _eq(creds.password, password):
            return True
        return bool(creds.token) and _eq(creds.token, password)
    return False


class AuthMiddleware:
    def __init__(self, app, creds: Credentials) -> None:
        self.app = app
        self.creds = creds

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        header = headers.get(b"authorization", b"").decode("latin-1") or None
        if self.creds.any:
            if not authorized(self.creds, header):
                return await _refuse(send, 401, "authentication required (a bearer token or basic auth)",
                                     [(b"www-authenticate", b'Basic realm="alprd", charset="UTF-8"')])
        elif scope["method"] in WRITE_METHODS:
            return await _refuse(send, 403, "writes need a credential: set web.token_env/token_file or "
                                            "web.username with a password (docs/web.md)")

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                message = dict(message)
                message["headers"] = list(message.get("headers") or []) + SECURITY_HEADERS
            await send(message)

        return await self.app(scope, receive, send_with_headers)


async def _refuse(send, status: int, detail: str, extra: list | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
                + SECURITY_HEADERS + (extra or [])})
    await send({"type": "http.response.body", "body": body})
