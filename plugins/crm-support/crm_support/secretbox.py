"""Mailbox passwords at rest: encrypted with a key derived from the instance secret.

A queue's ``imap_password`` is stored as ``fernet:<token>`` (Fernet: AES-128-CBC with an
HMAC-SHA256, from ``cryptography``), so neither the table, a backup, nor the audit log - which
records every field's new value - holds the password itself. The API never returns it (the
field is write-only). Changing the instance secret (``CRM_SECRET_KEY``) makes stored passwords
unreadable: ``crm support fetch-mail`` then says so, and they are set again.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

PREFIX = "fernet:"
_PURPOSE = b"crm-support imap password\0"


class SecretUnreadable(Exception):
    """The stored value was encrypted with another instance secret, or altered."""


def _fernet(crm: Any) -> Fernet:
    secret = str(crm.settings.secret_key).encode()
    key = hashlib.sha256(_PURPOSE + secret).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def seal(crm: Any, value: str | None) -> str | None:
    """The stored form of ``value`` (``None`` and ``""`` stay as they are)."""
    if not value or value.startswith(PREFIX):
        return value
    return PREFIX + _fernet(crm).encrypt(value.encode()).decode()


def unseal(crm: Any, stored: str | None) -> str:
    """The password; a value stored before encryption existed is returned as it is."""
    if not stored:
        return ""
    if not stored.startswith(PREFIX):
        return stored
    try:
        return _fernet(crm).decrypt(stored[len(PREFIX) :].encode()).decode()
    except (InvalidToken, ValueError):
        raise SecretUnreadable(
            "the stored password cannot be decrypted (was the instance secret changed?): "
            "set the queue's imap_password again"
        ) from None
