"""A sample receiver of the CRM's outbound webhooks, standard library only.

    WEBHOOK_SECRET=whsec_... python receiver.py --port 8000

It checks each request the way every receiver should:

1. ``X-CRM-Timestamp`` is within ``TOLERANCE`` seconds of this machine's clock (a captured
   request replayed later is refused);
2. ``X-CRM-Signature`` is ``v1=`` + hex HMAC-SHA256, keyed with the webhook's secret, of the
   timestamp, a full stop and the raw body - compared in constant time;
3. ``X-CRM-Delivery`` was not seen before (retries of one delivery carry the same id), so an
   event is processed once.

Authentic events are answered 204 and printed (or handed to ``on_event``); anything else 401.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOLERANCE = 300
MAX_BODY = 1_000_000


def verify(secret: str, body: bytes, timestamp: str | None, signature: str | None,
           now: float | None = None, tolerance: int = TOLERANCE) -> bool:  # fmt: skip
    """Whether a request is authentic and fresh."""
    if not timestamp or not signature or not timestamp.isdigit():
        return False
    if abs((time.time() if now is None else now) - int(timestamp)) > tolerance:
        return False
    message = timestamp.encode("ascii") + b"." + body
    expected = "v1=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, part.strip()) for part in signature.split(","))


class Receiver(ThreadingHTTPServer):
    """The HTTP server: holds the secret, the ids seen and what was accepted or refused."""

    def __init__(self, address: tuple[str, int], secret: str,
                 on_event: Callable[[dict[str, Any]], None] | None = None) -> None:  # fmt: skip
        super().__init__(address, Handler)
        self.secret = secret
        self.on_event = on_event or (lambda event: print(json.dumps(event)[:200], flush=True))
        self.seen: set[str] = set()
        self.accepted: list[dict[str, Any]] = []
        self.refused = 0
        self.lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._answer(413)
            return
        body = self.rfile.read(length)
        ok = verify(self.server.secret, body, self.headers.get("X-CRM-Timestamp"),
                    self.headers.get("X-CRM-Signature"))  # fmt: skip
        if not ok:
            with self.server.lock:
                self.server.refused += 1
            self._answer(401)
            return
        delivery = self.headers.get("X-CRM-Delivery", "")
        with self.server.lock:
            duplicate = delivery in self.server.seen
            self.server.seen.add(delivery)
        if not duplicate:
            event = json.loads(body)
            with self.server.lock:
                self.server.accepted.append(event)
            self.server.on_event(event)
        self._answer(204)

    def _answer(self, status: int) -> None:
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    secret = os.environ.get("WEBHOOK_SECRET", "")
    if not secret:
        raise SystemExit("set WEBHOOK_SECRET to the webhook's secret")
    server = Receiver((args.host, args.port), secret)
    print(f"listening on http://{args.host}:{args.port}/", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
