"""The session cookie's serializer is built once per key set (``crmcore.session_cookie``) and
still follows a change of key: a rotated key's fallbacks open old cookies, a forged one opens
nothing."""

from __future__ import annotations

import pytest
from flask import session

from crmcore.session_cookie import SessionCookies


@pytest.mark.crm_sqlite_only
def test_serializer_is_reused_and_follows_the_keys(app):
    interface = app.session_interface
    assert isinstance(interface, SessionCookies)
    first = interface.get_signing_serializer(app)
    assert interface.get_signing_serializer(app) is first
    with app.test_request_context("/"):
        session["who"] = "me"
        old_cookie = first.dumps(dict(session))

    old_key = app.secret_key
    app.secret_key = "rotated-" + "y" * 40
    app.config["SECRET_KEY_FALLBACKS"] = [old_key]
    try:
        rotated = interface.get_signing_serializer(app)
        assert rotated is not first
        assert rotated.loads(old_cookie) == {"who": "me"}  # signed with the fallback key
        name = app.config["SESSION_COOKIE_NAME"]
        with app.test_request_context("/", headers={"Cookie": f"{name}={old_cookie}"}):
            assert interface.open_session(app, _request())["who"] == "me"
        forged = old_cookie[:-2] + ("AA" if not old_cookie.endswith("AA") else "BB")
        with app.test_request_context("/", headers={"Cookie": f"{name}={forged}"}):
            assert "who" not in interface.open_session(app, _request())
        app.config["SECRET_KEY_FALLBACKS"] = []
        with app.test_request_context("/", headers={"Cookie": f"{name}={old_cookie}"}):
            assert "who" not in interface.open_session(app, _request())  # the old key is gone
    finally:
        app.secret_key = old_key
        app.config["SECRET_KEY_FALLBACKS"] = []


def _request():
    from flask import request

    return request._get_current_object()
