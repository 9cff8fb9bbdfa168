"""One-time recovery codes: the way in when a user's authenticator app is lost.

Ten codes are made when two-factor sign-in is turned on (and again on request); each is shown
once, stored only as a SHA-256 (the codes are random, 50 bits each, so a slow hash adds
nothing) and works once, wherever the current authenticator code is asked for.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

COUNT = 10
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read aloud and typed by hand
_GROUP = 5


def normalise(code: str) -> str:
    """Lower case without spaces or dashes: ``ABCDE-FGHJK`` and ``abcde fghjk`` are the same."""
    return "".join(c for c in str(code or "").lower() if c.isalnum())[:40]


def digest(code: str) -> str:
    return hashlib.sha256(normalise(code).encode()).hexdigest()


def new_codes() -> list[str]:
    """Ten fresh codes such as ``k7m2p-x9qrt`` (show them once; store :func:`digest`)."""
    return [
        "-".join(
            "".join(secrets.choice(_ALPHABET) for _ in range(_GROUP)) for _ in range(2)
        )
        for _ in range(COUNT)
    ]


def matching(stored: list[Any], code: str) -> str | None:
    """The stored digest ``code`` matches, compared in constant time, or ``None``."""
    if len(normalise(code)) != 2 * _GROUP:
        return None
    wanted = digest(code)
    found = None
    for candidate in stored or ():
        if hmac.compare_digest(str(candidate), wanted):
            found = str(candidate)
    return found
