"""Bearer tokens: issuing, checking and revoking. Only a SHA-256 of each token is stored."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import secrets
from typing import Any

from flask import request
from sqlalchemy import Select, bindparam, or_, select
from sqlalchemy.orm import Session, contains_eager

from ..db import utcnow
from ..errors import ValidationError
from ..users.models import ApiToken, User
from ..users.passwords import verify_password

TOKEN_PREFIX = "crm_"  # noqa: S105 - a public marker, not a secret
#: where the id of the token authenticating a request is kept (``request.environ``)
TOKEN_ID_KEY = "crm.api_token_id"  # noqa: S105 - a dictionary key


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(
    session: Session, user: User, name: str, hours: float | None
) -> tuple[str, ApiToken]:
    """Create a token; returns the secret (shown once) and its stored row."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires = utcnow() + dt.timedelta(hours=hours) if hours else None
    row = ApiToken(
        user_id=user.id,
        name=name,
        token_hash=hash_token(secret),
        prefix=secret[:10],
        expires_at=expires,
    )
    session.add(row)
    return secret, row


EXPIRES_DAYS_MESSAGE = (
    "Every token expires: choose from 1 day up to the instance's limit (token_max_days)."
)


def personal_token_hours(days: int | None, max_days: int) -> int:
    """Hours a new personal token lives, given the ``days`` asked for; ``ValidationError`` (on
    ``expires_days``) when it would never expire or outlive ``max_days`` (``token_max_days``)."""
    if not days or days < 1 or days > max_days:
        raise ValidationError({"expires_days": [EXPIRES_DAYS_MESSAGE]})
    return days * 24


#: how stale ``ApiToken.last_used_at`` may get: touching it on every request would make every
#: read a write
LAST_USED_RESOLUTION = dt.timedelta(minutes=5)


def token_and_user(session: Session, secret: str) -> tuple[ApiToken, User] | None:
    """The live token with this secret and its active user, in one query."""
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 100:
        return None
    # one query for both rows, with a statement built (and its cache key computed) once;
    # requests resolve tokens through ``token_cache.TokenCache``, which calls this on a miss
    token = session.scalar(_token_statement(), {"token_hash": hash_token(secret), "now": utcnow()})
    return (token, token.user) if token is not None else None


@functools.cache
def _token_statement() -> Select[tuple[ApiToken]]:
    # the join fills ``ApiToken.user`` (and its role, eagerly): selecting the user as well
    # would join the user and the role a second time
    return (
        select(ApiToken)
        .join(ApiToken.user)
        .options(contains_eager(ApiToken.user))
        .where(
            ApiToken.token_hash == bindparam("token_hash"),
            ApiToken.revoked_at.is_(None),
            or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > bindparam("now")),
            User.active.is_(True),
            User.deleted_at.is_(None),
        )
    )


def user_for_token(session: Session, secret: str) -> User | None:
    found = token_and_user(session, secret)
    return found[1] if found else None


def touch_token(session: Session, token_id: int) -> bool:
    """Record that a token was used, in a transaction of its own; a busy database skips it
    (the next request tries again). Whether it was recorded."""
    from sqlalchemy import update
    from sqlalchemy.exc import OperationalError

    if session.new or session.dirty or session.deleted:
        return False  # never commit what a view left behind
    session.rollback()
    try:
        session.execute(
            update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=utcnow())
        )
        session.commit()
    except OperationalError:
        session.rollback()
        return False
    return True


def authenticate(session: Session, email: Any, password: Any) -> User | None:
    """The active user with these credentials; constant work whether or not the user exists."""
    if not isinstance(email, str) or not isinstance(password, str) or len(password) > 256:
        verify_password(None, "x")
        return None
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    ok = verify_password(user.password_hash if user else None, password)
    if not ok or user is None or not user.active or user.deleted_at is not None:
        return None
    return user


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()
