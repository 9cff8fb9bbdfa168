"""Account security in the web UI: password reset by e-mail, TOTP, notifications, quick-create.

Mail is read back from the instance's real file outbox, as an administrator would.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import time
from email import message_from_bytes, policy
from pathlib import Path

import pyotp
import pytest
from sqlalchemy import select
from test_web import csrf_of, page, post, sign_in

from crmcore.db import utcnow
from crmcore.notifications import Notification, notify
from crmcore.settings import PasswordReset, Setting, base_url
from crmcore.testing.plugin import PASSWORD
from crmcore.users.models import ApiToken

NEW_PASSWORD = "A-brand-new-passphrase-42"


def mails_to(crm, address: str) -> list:
    """Messages in the outbox addressed to ``address``, oldest first."""
    folder = Path(crm.settings.instance_path) / "outbox"
    found = []
    for path in sorted(folder.glob("*.eml")) if folder.exists() else ():
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        if message["To"] == address:
            found.append(message)
    return found


def link_in(message) -> str:
    body = message.get_content()
    found = re.search(r"(https?://\S+/password/reset/\S+)", body)
    assert found, body
    return found.group(1)


def ask_reset(client, email: str, **kw):
    return post(client, "/password/forgot", {"email": email}, **kw)


def without_tokens(html: str) -> str:
    return re.sub(r'name="csrf_token" value="[^"]+"', "", html)


# password reset -----------------------------------------------------------------------------------


def test_reset_by_mail_end_to_end(app, crm, make_user, api_as):
    user = make_user()
    signed_in = app.test_client()
    sign_in(signed_in, user)
    api = api_as(user)
    assert api.get("/api/v1/me").status_code == 200

    client = app.test_client()
    response = ask_reset(client, user.email)
    assert response.status_code == 200
    [mail] = mails_to(crm, user.email)
    assert "password" in mail["Subject"].lower()
    link = link_in(mail)
    assert link.startswith(base_url(crm) + "/password/reset/")
    path = link.removeprefix(base_url(crm))

    token = path.rsplit("/", 1)[1]
    assert len(token) >= 43  # 32 random bytes, URL-safe base64: 256 bits
    stored = crm.session.scalar(select(PasswordReset).where(PasswordReset.user_id == user.id))
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in stored.token_hash
    lifetime = stored.expires_at - stored.created_at
    assert dt.timedelta(minutes=59) < lifetime <= dt.timedelta(hours=1)

    assert page(client, path).count('type="password"') == 2
    differ = post(client, path, {"new_password": NEW_PASSWORD, "confirm_password": "other"})
    assert differ.status_code == 422
    short = post(client, path, {"new_password": "short", "confirm_password": "short"})
    assert short.status_code == 422
    assert "Use at least 12 characters." in short.get_data(as_text=True)
    done = post(client, path, {"new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD})
    assert done.status_code == 303 and done.headers["Location"] == "/login"

    # the link is spent, the old password and every session and token are gone
    assert client.get(path).status_code == 404
    again = post(
        client,
        path,
        {"new_password": "Yet-another-phrase-99", "confirm_password": "Yet-another-phrase-99"},
        from_page="/login",
    )
    assert again.status_code == 404
    assert signed_in.get("/").status_code == 302
    assert api.get("/api/v1/me").status_code == 401
    live = crm.session.scalars(
        select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
    )
    assert list(live) == []
    wrong = post(app.test_client(), "/login", {"email": user.email, "password": PASSWORD})
    assert wrong.status_code == 401
    sign_in(app.test_client(), user, password=NEW_PASSWORD)


def test_unknown_and_known_addresses_get_the_same_answer(app, crm, make_user):
    user = make_user()
    known = ask_reset(app.test_client(), user.email)
    unknown = ask_reset(app.test_client(), "nobody-here@example.com")
    inactive_user = make_user(active=False)
    inactive = ask_reset(app.test_client(), inactive_user.email)
    assert known.status_code == unknown.status_code == inactive.status_code == 200

    def normal(response, email):
        return without_tokens(response.get_data(as_text=True)).replace(email, "EMAIL")

    assert normal(known, user.email) == normal(unknown, "nobody-here@example.com")
    assert normal(known, user.email) == normal(inactive, inactive_user.email)
    assert len(mails_to(crm, user.email)) == 1
    assert mails_to(crm, "nobody-here@example.com") == []
    assert mails_to(crm, inactive_user.email) == []


def test_expired_link_is_refused(app, crm, make_user):
    user = make_user()
    ask_reset(app.test_client(), user.email)
    path = "/password/reset/" + link_in(mails_to(crm, user.email)[-1]).rsplit("/", 1)[1]
    row = crm.session.scalar(select(PasswordReset).where(PasswordReset.user_id == user.id))
    row.expires_at = utcnow() - dt.timedelta(seconds=1)
    crm.session.commit()
    client = app.test_client()
    response = client.get(path)
    assert response.status_code == 404
    assert "not valid any more" in response.get_data(as_text=True)
    token = csrf_of(page(client, "/login"))
    response = client.post(
        path,
        data={"csrf_token": token, "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD},
    )
    assert response.status_code == 404
    sign_in(app.test_client(), user)  # the password did not change


@pytest.mark.parametrize(
    "headers",
    [
        {"Host": "evil.example"},
        {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"},
        {"Forwarded": "host=evil.example"},
    ],
)
def test_host_header_poisoning_is_ignored(app, crm, make_user, headers):
    user = make_user()
    client = app.test_client()
    form = client.get("/password/forgot", headers=headers)
    token = csrf_of(form.get_data(as_text=True))
    response = client.post(
        "/password/forgot", data={"csrf_token": token, "email": user.email}, headers=headers
    )
    assert response.status_code == 200
    link = link_in(mails_to(crm, user.email)[-1])
    assert "evil.example" not in link
    assert link.startswith(base_url(crm) + "/")


def test_reset_requests_are_rate_limited_per_address(app, crm, make_user):
    user = make_user()
    statuses = [
        ask_reset(
            app.test_client(), user.email, environ_base={"REMOTE_ADDR": f"10.1.0.{n}"}
        ).status_code
        for n in range(4)
    ]
    assert statuses == [200, 200, 200, 429]
    assert len(mails_to(crm, user.email)) == 3


def test_reset_mail_is_in_the_users_language(app, crm, make_user):
    user = make_user(locale="es")
    ask_reset(app.test_client(), user.email)
    [mail] = mails_to(crm, user.email)
    assert "contraseña" in mail["Subject"]
    assert "Hola" in mail.get_content()


def test_forgot_page_needs_csrf(app, make_user):
    user = make_user()
    response = app.test_client().post("/password/forgot", data={"email": user.email})
    assert response.status_code == 400


# TOTP -----------------------------------------------------------------------------------------


def enrol(client) -> str:
    html = page(client, "/account/totp")
    assert "<svg" in html
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', html).group(1)
    wrong = post(client, "/account/totp", {"code": "000000"})
    assert wrong.status_code == 422
    ok = post(client, "/account/totp", {"code": pyotp.TOTP(secret).now()})
    assert ok.status_code == 200 and ok.headers["Cache-Control"] == "no-store"
    codes = re.findall(r'<code class="token">([a-z2-9]{5}-[a-z2-9]{5})</code>', ok.text)
    assert len(codes) == 10 == len(set(codes))
    client.recovery_codes = codes
    return secret


def next_code(secret: str, steps: int = 1) -> str:
    return pyotp.TOTP(secret).at(time.time() + 30 * steps)


def test_totp_enrol_and_sign_in(app, crm, make_user):
    user = make_user()
    client = app.test_client()
    sign_in(client, user)
    secret = enrol(client)
    crm.session.refresh(user)
    assert user.totp_secret == secret
    assert "Two-factor sign-in is on" in page(client, "/account/totp")

    other = app.test_client()
    response = post(other, "/login", {"email": user.email, "password": PASSWORD})
    assert response.status_code == 303 and response.headers["Location"] == "/login/code"
    assert other.get("/").status_code == 302  # the password alone does not sign in
    wrong = post(other, "/login/code", {"code": "123456"})
    assert wrong.status_code == 401
    code = next_code(secret)
    right = post(other, "/login/code", {"code": code})
    assert right.status_code == 303 and right.headers["Location"] == "/"
    assert other.get("/").status_code == 200

    # the same code is not accepted twice
    third = app.test_client()
    post(third, "/login", {"email": user.email, "password": PASSWORD})
    assert post(third, "/login/code", {"code": code}).status_code == 401
    assert third.get("/").status_code == 302


def test_code_page_without_password_step_goes_to_login(app):
    client = app.test_client()
    response = client.get("/login/code")
    assert response.status_code == 303 and response.headers["Location"] == "/login"


def test_totp_codes_are_rate_limited(app, crm, make_user):
    user = make_user()
    client = app.test_client()
    sign_in(client, user)
    secret = enrol(client)
    other = app.test_client()
    post(other, "/login", {"email": user.email, "password": PASSWORD})
    statuses = [
        post(
            other, "/login/code", {"code": f"{n:06d}"}, environ_base={"REMOTE_ADDR": f"10.2.0.{n}"}
        ).status_code
        for n in range(6)
    ]
    assert statuses == [401] * 5 + [429]
    right = post(
        other, "/login/code", {"code": next_code(secret)}, environ_base={"REMOTE_ADDR": "10.2.1.1"}
    )
    assert right.status_code == 429
    assert other.get("/").status_code == 302


def test_totp_disable_needs_password_and_code(app, crm, make_user):
    user = make_user()
    client = app.test_client()
    sign_in(client, user)
    secret = enrol(client)
    bad_password = post(
        client,
        "/account/totp/disable",
        {"password": "not-my-password", "code": next_code(secret)},
        from_page="/account/totp",
    )
    assert bad_password.status_code == 422
    bad_code = post(
        client,
        "/account/totp/disable",
        {"password": PASSWORD, "code": "000000"},
        from_page="/account/totp",
    )
    assert bad_code.status_code == 422
    crm.session.refresh(user)
    assert user.totp_secret == secret
    ok = post(
        client,
        "/account/totp/disable",
        {"password": PASSWORD, "code": next_code(secret, 1)},
        from_page="/account/totp",
    )
    assert ok.status_code == 303
    crm.session.refresh(user)
    assert user.totp_secret is None


def test_totp_secret_is_not_in_the_cookie_nor_the_audit_log(app, crm, make_user):
    from crmcore.audit import AuditEntry

    user = make_user()
    client = app.test_client()
    sign_in(client, user)
    secret = enrol(client)
    with client.session_transaction() as session:
        assert secret not in repr(dict(session))
    entries = crm.session.scalars(
        select(AuditEntry).where(AuditEntry.entity == "user", AuditEntry.record_id == user.id)
    )
    assert secret not in repr([e.changes for e in entries])


def test_admins_must_enrol_when_the_instance_requires_it(app, crm, make_user):
    crm.session.add(Setting(key="require_totp_for_admins", value=True))
    crm.session.commit()
    admin = make_user("admin")
    client = app.test_client()
    sign_in(client, admin)
    response = client.get("/contacts")
    assert response.status_code == 303 and response.headers["Location"] == "/account/totp"
    assert client.get("/account/totp").status_code == 200
    rep = make_user("sales_rep")
    rep_client = app.test_client()
    sign_in(rep_client, rep)
    assert rep_client.get("/contacts").status_code == 200
    enrol(client)
    assert client.get("/contacts").status_code == 200


# notifications and quick-create ---------------------------------------------------------------


def test_bell_counts_unread_and_marks_read(app, crm, make_user):
    user = make_user()
    other = make_user()
    for n in range(3):
        notify(crm.session, user.id, "task_reminder", f"Reminder: call {n}", link=("tasks", 1))
    theirs = notify(crm.session, other.id, "task_reminder", "Not yours")
    crm.session.commit()
    client = app.test_client()
    sign_in(client, user)
    home = page(client, "/")
    assert re.search(r'id="bell-count">3<', home)
    assert "Reminder: call 2" in home and "Not yours" not in home
    listing = page(client, "/notifications")
    ids = [int(i) for i in re.findall(r'id="notification-(\d+)"', listing)]
    assert len(ids) == 3
    assert client.post(f"/notifications/{ids[0]}/read").status_code == 400  # no CSRF token
    response = post(client, f"/notifications/{ids[0]}/read", from_page="/notifications")
    assert response.status_code == 303
    assert re.search(r'id="bell-count">2<', page(client, "/"))
    stolen = post(client, f"/notifications/{theirs.id}/read", from_page="/notifications")
    assert stolen.status_code == 404
    crm.session.refresh(theirs)
    assert theirs.read_at is None
    post(client, "/notifications/read-all", from_page="/notifications")
    assert 'id="bell-count"' not in page(client, "/")
    unread = crm.session.scalars(
        select(Notification).where(Notification.user_id == user.id, Notification.read_at.is_(None))
    )
    assert list(unread) == []


def test_quick_create_uses_the_record_service(app, crm, make_user):
    from crmcore.contacts.models import Contact

    user = make_user("sales_rep")
    client = app.test_client()
    sign_in(client, user)
    home = page(client, "/")
    assert 'action="/quick/contacts"' in home
    response = post(
        client,
        "/quick/contacts",
        {"quick": "1", "first_name": "Quinn", "last_name": "Quick", "email": "quinn@example.com"},
        from_page="/",
    )
    assert response.status_code == 303
    contact = crm.session.scalar(select(Contact).where(Contact.email == "quinn@example.com"))
    assert contact.owner_id == user.id
    bad = post(
        client,
        "/quick/contacts",
        {"quick": "1", "first_name": "Bad", "email": "not-an-address"},
        from_page="/",
    )
    assert bad.status_code == 422
    html = bad.get_data(as_text=True)
    assert "Not a valid e-mail address." in html and 'value="Bad"' in html


def test_quick_create_respects_permissions(app, make_user):
    user = make_user("read_only")
    client = app.test_client()
    sign_in(client, user)
    assert "/quick/contacts" not in page(client, "/")
    response = post(client, "/quick/contacts", {"quick": "1", "first_name": "Nope"}, from_page="/")
    assert response.status_code == 403


def test_api_sign_in_needs_the_code_too(app, crm, make_user):
    user = make_user()
    client = app.test_client()
    sign_in(client, user)
    secret = enrol(client)
    api = app.test_client()
    body = {"email": user.email, "password": PASSWORD}
    assert api.post("/api/v1/auth/token", json=body).status_code == 401
    wrong = api.post("/api/v1/auth/token", json={**body, "totp": "000000"})
    assert wrong.status_code == 401
    ok = api.post("/api/v1/auth/token", json={**body, "totp": next_code(secret)})
    assert ok.status_code == 200 and ok.json["token"]


def test_recovery_codes_sign_in_once_each(app, crm, make_user):
    user = make_user()
    client = app.test_client()
    sign_in(client, user)
    enrol(client)
    codes = client.recovery_codes
    crm.session.refresh(user)
    assert len(user.totp_recovery) == 10
    assert not set(codes) & {str(d) for d in user.totp_recovery}  # only digests are kept

    other = app.test_client()
    post(other, "/login", {"email": user.email, "password": PASSWORD})
    used = codes[3].upper().replace("-", " ")  # typed loosely
    response = post(other, "/login/code", {"code": used})
    assert response.status_code == 303 and other.get("/").status_code == 200
    crm.session.refresh(user)
    assert len(user.totp_recovery) == 9
    assert "9" in page(other, "/account/totp")

    again = app.test_client()
    post(again, "/login", {"email": user.email, "password": PASSWORD})
    assert post(again, "/login/code", {"code": codes[3]}).status_code == 401  # once only
    assert post(again, "/login/code", {"code": "aaaaa-bbbbb"}).status_code == 401
    assert again.get("/").status_code == 302
    api = app.test_client()
    body = {"email": user.email, "password": PASSWORD, "totp": codes[4]}
    assert api.post("/api/v1/auth/token", json=body).status_code == 200
    assert api.post("/api/v1/auth/token", json=body).status_code == 401


def test_new_recovery_codes_replace_the_old(app, crm, make_user):
    user = make_user()
    client = app.test_client()
    sign_in(client, user)
    secret = enrol(client)
    old = client.recovery_codes
    refused = post(
        client, "/account/totp/recovery", {"password": "wrong", "code": next_code(secret)},
        from_page="/account/totp",
    )  # fmt: skip
    assert refused.status_code == 422
    fresh = post(
        client, "/account/totp/recovery", {"password": PASSWORD, "code": next_code(secret)},
        from_page="/account/totp",
    )  # fmt: skip
    assert fresh.status_code == 200
    new = re.findall(r'<code class="token">([a-z2-9]{5}-[a-z2-9]{5})</code>', fresh.text)
    assert len(new) == 10 and not set(new) & set(old)
    other = app.test_client()
    post(other, "/login", {"email": user.email, "password": PASSWORD})
    assert post(other, "/login/code", {"code": old[0]}).status_code == 401
    assert post(other, "/login/code", {"code": new[0]}).status_code == 303


def test_recovery_codes_are_not_in_the_audit_log(app, crm, make_user):
    from crmcore.audit import AuditEntry

    user = make_user()
    client = app.test_client()
    sign_in(client, user)
    enrol(client)
    crm.session.refresh(user)
    entries = [
        e.changes
        for e in crm.session.scalars(
            select(AuditEntry).where(AuditEntry.entity == "user", AuditEntry.record_id == user.id)
        )
    ]
    text = repr(entries)
    assert "totp_recovery" in text  # the change is recorded...
    assert not any(str(d) in text for d in user.totp_recovery)  # ...masked


def test_an_admin_resets_a_lost_second_factor(app, crm, make_user, cli):
    user = make_user()
    client = app.test_client()
    sign_in(client, user)
    enrol(client)
    result = cli("users", "reset-2fa", user.email)
    assert result.exit_code == 0 and "is off" in result.output
    crm.session.refresh(user)
    assert user.totp_secret is None and user.totp_recovery == []
    other = app.test_client()
    response = post(other, "/login", {"email": user.email, "password": PASSWORD})
    assert response.status_code == 303 and response.headers["Location"] != "/login/code"
    assert "has no two-factor" in cli("users", "reset-2fa", user.email).output
