"""Password hashing (argon2id) and the password policy."""

from __future__ import annotations

import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 12
MAX_LENGTH = 256
_hasher = PasswordHasher()  # stateless and thread-safe: parameters only, no app state


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the user does not exist, so timing does not reveal which do."""
    return _hasher.hash("not-a-real-password-0123456789")


def check_policy(password: str) -> str | None:
    """A message saying what is wrong with the password, or ``None`` when it is acceptable."""
    if len(password) < MIN_LENGTH:
        return f"Use at least {MIN_LENGTH} characters."
    if len(password) > MAX_LENGTH:
        return f"Use at most {MAX_LENGTH} characters."
    if password.strip() == "" or len(set(password)) < 4:
        return "Use a less repetitive password."
    return None


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return (
            _hasher.verify(password_hash or _dummy_hash(), password) and password_hash is not None
        )
    except (VerificationError, InvalidHashError):
        return False
