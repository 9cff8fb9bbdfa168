"""Signatures of webhook deliveries.

Each request carries::

    X-CRM-Timestamp: 1764927000            (Unix time in seconds, when the attempt was sent)
    X-CRM-Signature: v1=<hex>              (HMAC-SHA256 of "<timestamp>.<body>" with the secret)
    X-CRM-Delivery:  <uuid>                (the same on every retry of one delivery)
    X-CRM-Event:     contact.created

The signed message is the timestamp's decimal digits, a full stop, then the raw body bytes.
A receiver recomputes the HMAC with its copy of the secret, compares in constant time, and
refuses timestamps further than a few minutes from its clock (a replayed request).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

#: Prefix of the secret (recognisable in logs and secret scanners).
SECRET_PREFIX = "whsec_"
#: How far from the receiver's clock a timestamp may be (seconds) in :func:`verify`.
TOLERANCE = 300


def new_secret() -> str:
    """A fresh random secret (256 bits)."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-CRM-Signature`` value of ``body`` sent at ``timestamp``."""
    message = str(int(timestamp)).encode("ascii") + b"." + body
    digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()
    return f"v1={digest}"


def headers(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """The timestamp and signature headers of one attempt."""
    stamp = int(time.time()) if timestamp is None else int(timestamp)
    return {"X-CRM-Timestamp": str(stamp), "X-CRM-Signature": signature(secret, stamp, body)}


def verify(
    secret: str,
    body: bytes,
    timestamp: str | None,
    signature_header: str | None,
    *,
    now: float | None = None,
    tolerance: int = TOLERANCE,
) -> bool:
    """Whether a received request is authentic and fresh (what a receiver does)."""
    if not timestamp or not signature_header or not timestamp.isdigit():
        return False
    current = time.time() if now is None else now
    if abs(current - int(timestamp)) > tolerance:
        return False
    expected = signature(secret, int(timestamp), body)
    return any(hmac.compare_digest(expected, part.strip()) for part in signature_header.split(","))
