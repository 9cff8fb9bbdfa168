"""Who is signed in: the Flask-Login user object and how a session finds its user again."""

from __future__ import annotations

import hashlib
import hmac

from flask import current_app
from flask_login import UserMixin

from .. import parsing
from ..users.models import User


def fingerprint(user: User) -> str:
    """Changes with the password and the session epoch, so a new password or a sign-out ends
    every other session and remember-me cookie of the user, on every device."""
    key = str(current_app.config["SECRET_KEY"]).encode()
    message = f"{user.id}:{user.password_hash or ''}:{user.session_epoch or 0}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:24]


class Account(UserMixin):  # type: ignore[misc]
    """The signed-in ``User`` as Flask-Login sees it."""

    def __init__(self, user: User) -> None:
        self.user = user

    def get_id(self) -> str:
        return f"{self.user.id}.{fingerprint(self.user)}"

    @property
    def is_active(self) -> bool:
        return bool(self.user.active and self.user.deleted_at is None)


def load_account(session_id: str) -> Account | None:
    """The account of a session (or remember-me cookie), if still valid."""
    from ..app import current_crm

    user_id, _, mark = session_id.partition(".")
    number = parsing.record_id(user_id)
    if number is None or not mark:
        return None
    user = current_crm().session.get(User, number)
    if user is None or not user.active or user.deleted_at is not None:
        return None
    if not hmac.compare_digest(fingerprint(user), mark):
        return None
    return Account(user)
