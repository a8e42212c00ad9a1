"""A webhook receiver for alprd: checks the signature and the timestamp, drops repeated event ids.

Run:   ALPRD_WEBHOOK_SECRET=... python webhook_receiver.py 8080
Config (alprd.yaml):
    sinks:
      webhooks:
        - name: gate
          url: http://127.0.0.1:8080/alprd
          secret_env: ALPRD_WEBHOOK_SECRET

Standard library only. A real receiver keeps the seen ids in its database (a unique key on the
event id) rather than in memory, and answers 2xx only once the event is stored: alprd retries
anything else.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOLERANCE_S = 300  # reject requests signed longer ago than this (replays)


def verify(secret: bytes, body: bytes, timestamp: str | None, signature: str | None,
           now: float | None = None) -> bool:
    """alprd signs "<X-Alprd-Timestamp>.<body>" with HMAC-SHA256: X-Alprd-Signature: v1=<hex>."""
    if not timestamp or not signature or not timestamp.isdigit():
        return False
    if abs((time.time() if now is None else now) - int(timestamp)) > TOLERANCE_S:
        return False
    expected = "v1=" + hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


class Handler(BaseHTTPRequestHandler):
    secret = b""
    seen: set[str] = set()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if not verify(self.secret, body, self.headers.get("X-Alprd-Timestamp"),
                      self.headers.get("X-Alprd-Signature")):
            self.send_response(401)  # alprd retries: a receiver with the wrong secret loses nothing
            self.end_headers()
            return
        event_id = self.headers.get("Idempotency-Key", "")
        if event_id not in self.seen:  # a retry or a replay after a crash repeats an event id
            self.seen.add(event_id)
            event = json.loads(body)
            print(event["kind"], event.get("camera_id"), event.get("plate") or event.get("read"), flush=True)
        self.send_response(204)
        self.end_headers()


if __name__ == "__main__":
    Handler.secret = os.environ["ALPRD_WEBHOOK_SECRET"].encode()
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8080
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
