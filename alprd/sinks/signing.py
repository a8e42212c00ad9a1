"""Webhook signatures: HMAC-SHA256 over "<timestamp>.<body>" with the target's secret.

Why the timestamp is inside the MAC: a receiver that checks the signature and rejects a timestamp
older than a few minutes cannot be fed a captured request again later (replay), and an attacker
cannot refresh the timestamp without the secret. The event id (Idempotency-Key) lets the receiver
drop the duplicates a retry can legitimately produce. docs/events.md shows a receiver.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import time
from pathlib import Path

SIGNATURE_HEADER = "X-Alprd-Signature"
TIMESTAMP_HEADER = "X-Alprd-Timestamp"
EVENT_ID_HEADER = "X-Alprd-Event-Id"
EVENT_KIND_HEADER = "X-Alprd-Event-Kind"
ATTEMPT_HEADER = "X-Alprd-Attempt"
IDEMPOTENCY_HEADER = "Idempotency-Key"
SCHEME = "v1="


class SecretError(ValueError):
    """The signing secret could not be read (message names the variable or file)."""


def read_secret(env: str | None, file: str | None) -> bytes:
    """The secret from an environment variable or the first line of a file; never empty."""
    if env is not None:
        value = os.environ.get(env)
        if value is None:
            raise SecretError(f"environment variable {env} is not set")
        where = f"environment variable {env}"
    elif file is not None:
        try:
            value = Path(file).read_text(encoding="utf-8").splitlines()[0] if Path(file).stat().st_size else ""
        except OSError as exc:
            raise SecretError(f"cannot read {file} ({exc.strerror})") from None
        where = str(file)
    else:
        raise SecretError("no environment variable or file named for the secret")
    value = value.strip()
    if not value:
        raise SecretError(f"the secret in {where} is empty")
    return value.encode("utf-8")


def signature(secret: bytes, timestamp: int, body: bytes) -> str:
    """The value of the signature header: "v1=" + hex HMAC-SHA256 of b"<timestamp>." + body."""
    mac = hmac.new(secret, str(int(timestamp)).encode("ascii") + b"." + body, hashlib.sha256)
    return SCHEME + mac.hexdigest()


def verify(secret: bytes, body: bytes, timestamp_header: str | None, signature_header: str | None,
           *, tolerance_s: float = 300.0, now: float | None = None) -> bool:
    """True if the signature matches and the timestamp is within tolerance_s of now."""
    if not timestamp_header or not signature_header:
        return False
    try:
        ts = int(timestamp_header)
    except ValueError:
        return False
    now = time.time() if now is None else now
    if abs(now - ts) > tolerance_s:
        return False
    return hmac.compare_digest(signature(secret, ts, body), signature_header.strip())
