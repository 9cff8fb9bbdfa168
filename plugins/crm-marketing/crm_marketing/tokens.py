"""Signed tokens of public links: tracking, unsubscribe, subscription confirmation.

Keyed by the instance secret and a purpose (the salt), so a token made for one purpose is
worthless for another. Tracking and unsubscribe tokens do not expire (a message read a year
later still unsubscribes); subscription confirmations do.
"""

from __future__ import annotations

from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer, URLSafeTimedSerializer

OPEN = "marketing.open"
CLICK = "marketing.click"
UNSUBSCRIBE = "marketing.unsubscribe"
SUBSCRIBE = "marketing.subscribe"
SUBSCRIBE_DAYS = 7
_MAX_TOKEN = 1000


def dumps(crm: Any, purpose: str, payload: Any) -> str:
    """A token carrying ``payload`` (short: ``[recipient_id]`` or ``[recipient_id, link_id]``)."""
    return URLSafeSerializer(crm.settings.secret_key, salt=purpose).dumps(payload)


def loads(crm: Any, purpose: str, token: str) -> Any:
    """The payload, or ``None`` for a forged, altered or foreign token."""
    if not token or len(token) > _MAX_TOKEN:
        return None
    serializer = URLSafeSerializer(crm.settings.secret_key, salt=purpose)
    try:
        payload = serializer.loads(token)
    except BadSignature:
        return None
    # base64 lets a few spellings decode to the same bytes (the unused bits of the last
    # character): only the spelling we issue is accepted, so an altered token never works
    return payload if serializer.dumps(payload) == token else None


def dumps_timed(crm: Any, purpose: str, payload: Any) -> str:
    return URLSafeTimedSerializer(crm.settings.secret_key, salt=purpose).dumps(payload)


def loads_timed(crm: Any, purpose: str, token: str, max_age_days: int) -> Any:
    """The payload, or ``None`` for a forged, altered, foreign or expired token."""
    if not token or len(token) > _MAX_TOKEN:
        return None
    try:
        return URLSafeTimedSerializer(crm.settings.secret_key, salt=purpose).loads(
            token, max_age=max_age_days * 86400
        )
    except BadSignature:  # SignatureExpired too
        return None
