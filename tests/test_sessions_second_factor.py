"""Sign-out ends copies of the session and remember-me cookies (server-side revocation); the
API's token endpoint enforces ``require_totp_for_admins`` and rate-limits wrong codes."""

from __future__ import annotations

from typing import Any

from test_web import post, sign_in
from test_web_account import enrol, next_code

from crmcore.settings import Setting
from crmcore.testing.plugin import PASSWORD


def copy_cookies(source: Any, target: Any, only: tuple[str, ...] | None = None) -> None:
    """What a thief does with stolen cookies."""
    for cookie in source._cookies.values():
        if only is None or cookie.key in only:
            target.set_cookie(cookie.key, cookie.value, domain=cookie.domain, path=cookie.path)


def test_stolen_cookies_stop_working_after_sign_out(app: Any, make_user: Any) -> None:
    user = make_user()
    victim = app.test_client()
    sign_in(victim, user, remember="on")
    thief, thief_remember = app.test_client(), app.test_client()
    copy_cookies(victim, thief)
    copy_cookies(victim, thief_remember, only=("crm_remember",))
    assert thief.get("/contacts").status_code == 200  # the copies work while signed in
    assert thief_remember.get("/contacts").status_code == 200
    thief_remember = app.test_client()
    copy_cookies(victim, thief_remember, only=("crm_remember",))

    answer = post(victim, "/logout", from_page="/")
    assert answer.status_code == 303
    assert thief.get("/contacts").status_code == 302
    assert thief_remember.get("/contacts").status_code == 302
    # signing in again starts a session that works
    fresh = app.test_client()
    sign_in(fresh, user)
    assert fresh.get("/contacts").status_code == 200


def test_sign_out_elsewhere_does_not_revive_old_cookies(app: Any, make_user: Any) -> None:
    user = make_user()
    first = app.test_client()
    sign_in(first, user)
    stolen = app.test_client()
    copy_cookies(first, stolen)
    post(first, "/logout", from_page="/")
    again = app.test_client()
    sign_in(again, user)
    assert stolen.get("/contacts").status_code == 302
    assert again.get("/contacts").status_code == 200


def test_token_endpoint_requires_admins_second_factor(app: Any, crm: Any, make_user: Any) -> None:
    crm.session.add(Setting(key="require_totp_for_admins", value=True))
    crm.session.commit()
    admin, rep = make_user("admin"), make_user("sales_rep")
    api = app.test_client()
    answer = api.post("/api/v1/auth/token", json={"email": admin.email, "password": PASSWORD})
    assert answer.status_code == 403, answer.json
    assert answer.mimetype == "application/problem+json"
    assert "token" not in answer.json
    answer = api.post("/api/v1/auth/token", json={"email": rep.email, "password": PASSWORD})
    assert answer.status_code == 200  # only administrators must enrol
    web = app.test_client()
    sign_in(web, admin)
    secret = enrol(web)
    body = {"email": admin.email, "password": PASSWORD, "totp": next_code(secret)}
    answer = api.post("/api/v1/auth/token", json=body)
    assert answer.status_code == 200 and answer.json["token"]


def test_token_endpoint_rate_limits_wrong_codes(app: Any, make_user: Any) -> None:
    user = make_user()
    web = app.test_client()
    sign_in(web, user)
    secret = enrol(web)
    api = app.test_client()
    body = {"email": user.email, "password": PASSWORD}
    statuses = [
        api.post(
            "/api/v1/auth/token",
            json={**body, "totp": f"{n:06d}"},
            environ_base={"REMOTE_ADDR": f"10.3.0.{n}"},
        ).status_code
        for n in range(6)
    ]
    assert statuses == [401] * 5 + [429]
    right = api.post(
        "/api/v1/auth/token",
        json={**body, "totp": next_code(secret)},
        environ_base={"REMOTE_ADDR": "10.3.1.1"},
    )
    assert right.status_code == 429
    assert right.mimetype == "application/problem+json"
