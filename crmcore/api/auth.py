"""Bearer tokens: issuing, checking and revoking. Only a SHA-256 of each token is stored."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Any

from flask import request
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ..db import utcnow
from ..users.models import ApiToken, User
from ..users.passwords import verify_password

TOKEN_PREFIX = "crm_"  # noqa: S105 - a public marker, not a secret


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


def user_for_token(session: Session, secret: str) -> User | None:
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 100:
        return None
    # one query, and only the user (with its role) is loaded: this runs on every API request
    return session.scalar(
        select(User)
        .join(ApiToken, ApiToken.user_id == User.id)
        .where(
            ApiToken.token_hash == hash_token(secret),
            ApiToken.revoked_at.is_(None),
            or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > utcnow()),
            User.active.is_(True),
            User.deleted_at.is_(None),
        )
    )


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
