"""Signed, expiring tokens (itsdangerous, keyed by the instance secret and a purpose)."""

from __future__ import annotations

from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer

INVITE_SALT = "support.portal-invite"
FEEDBACK_SALT = "support.feedback"
WEB_REQUEST_SALT = "support.web-request"
INVITE_DAYS = 7
#: how long the link confirming a request sent with the public form works
WEB_REQUEST_DAYS = 2
FEEDBACK_DAYS = 30


def _serializer(crm: Any, salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(crm.settings.secret_key, salt=salt)


def dumps(crm: Any, salt: str, payload: dict[str, Any]) -> str:
    return _serializer(crm, salt).dumps(payload)


def loads(crm: Any, salt: str, token: str, max_age_days: int) -> dict[str, Any] | None:
    """The payload, or ``None`` for a forged, altered or expired token."""
    if not token or len(token) > 1000:
        return None
    try:
        payload = _serializer(crm, salt).loads(token, max_age=max_age_days * 86400)
    except BadSignature:  # also SignatureExpired
        return None
    return payload if isinstance(payload, dict) else None
