"""Flask's signed session cookie, with its signing serializer built once per key set.

Flask builds a ``URLSafeTimedSerializer`` in every request's ``open_session``, even for an API
call that sends no cookie; the serializer depends only on the secret key, its fallbacks and
class settings, so it is kept and rebuilt when the keys change.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer


class SessionCookies(SecureCookieSessionInterface):
    """``SecureCookieSessionInterface`` reusing its serializer while the keys stay the same."""

    def __init__(self) -> None:
        # one tuple, replaced whole, so that threads never see one key set's serializer
        # under another's keys
        self._cached: tuple[Any, URLSafeTimedSerializer | None] = (None, None)

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        keys = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        cached_keys, serializer = self._cached
        if keys != cached_keys:
            serializer = super().get_signing_serializer(app)
            self._cached = (keys, serializer)
        return serializer
