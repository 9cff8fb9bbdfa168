"""Account security pages: password reset by e-mail, invitations and the TOTP second factor.

Password reset
    ``/password/forgot`` always answers the same, whether or not the address belongs to a user.
    A known, active user gets a link with a single-use token (256 bits from ``secrets``; only
    its SHA-256 is stored in ``core_password_reset``) that expires after an hour. The link's
    host comes from ``CRM_BASE_URL``, never from the request's ``Host`` header. Setting the new
    password ends every other session (the session fingerprint covers the password hash),
    revokes the user's API tokens and burns every other open link of that user.

Invitations
    An administrator invites a user (``crmcore.web.admin``): the user is created without a
    password and receives a set-password link from the same machinery, valid for three days.

Second factor (TOTP, RFC 6238)
    Enrolment shows a QR code rendered server-side as SVG (``segno``) and the secret as text;
    the secret is stored only once a code from the authenticator app confirms it. Sign-in then
    asks for a code after the password; codes are rate-limited and each is accepted once.
    When the instance setting ``require_totp_for_admins`` is on, users holding administrative
    permissions are sent to enrol before they can use any other page.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
import time
from email.message import EmailMessage
from typing import Any

import pyotp
import segno
from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask import session as cookie
from flask_babel import force_locale
from flask_babel import gettext as _
from markupsafe import Markup
from sqlalchemy import select, update

from ..app import current_crm
from ..db import utcnow
from ..errors import ValidationError
from ..permissions import Access
from ..settings import PasswordReset, base_url, get_settings
from ..users import recovery, second_factor
from ..users.models import User
from ..users.passwords import verify_password
from ..users.second_factor import TOTP_RATE, is_admin, rate_key
from .forms import field_errors
from .security import public, safe_next

RESET_LIFETIME = dt.timedelta(hours=1)
INVITE_LIFETIME = dt.timedelta(days=3)
#: Requests for a reset link: per address asked for, and per client address.
FORGOT_RATE_PER_EMAIL = "3 per 15 minutes"
#: How long the password step of a sign-in waits for its second factor.
PENDING_SECONDS = 300
TOTP_ISSUER = "CRM"
#: Pages an administrator without a second factor may still open when one is required.
ENROL_ALLOWED = frozenset(
    {
        "web_account.totp",
        "web_account.totp_disable",
        "web_auth.logout",
        "web_auth.language",
        "web_auth.login",
        "web.static",
    }
)

PENDING_KEY = "_crm_totp_pending"
ENROL_KEY = "_crm_totp_enrol"


# tokens ---------------------------------------------------------------------------------------


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_reset(session: Any, user: User, lifetime: dt.timedelta = RESET_LIFETIME) -> str:
    """Store a new single-use token for ``user`` (its hash only) and return the token."""
    token = secrets.token_urlsafe(32)
    session.add(
        PasswordReset(user_id=user.id, token_hash=hash_token(token), expires_at=utcnow() + lifetime)
    )
    return token


def find_reset(session: Any, token: str) -> tuple[PasswordReset, User] | None:
    """The open reset of ``token`` and its active user, or ``None`` (used, expired, unknown)."""
    if not token or len(token) > 128:
        return None
    row = session.scalar(select(PasswordReset).where(PasswordReset.token_hash == hash_token(token)))
    if row is None or row.used_at is not None or row.expires_at <= utcnow():
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.active or user.deleted_at is not None:
        return None
    return row, user


def reset_link(crm: Any, token: str) -> str:
    """The absolute link of a token, on the configured base URL (never the request's host)."""
    path = url_for("web_account.reset", token=token)
    return base_url(crm) + path


def send_reset_mail(user: User, token: str, invited_by: User | None = None) -> None:
    """E-mail ``user`` their link, in their language; queued for retries if the server fails."""
    from .. import mail

    crm = current_crm()
    link = reset_link(crm, token)
    company = str(get_settings(crm.session).get("company_name") or "") or "CRM"
    name = user.name or user.email
    with force_locale(user.locale or "en"):
        if invited_by is not None:
            subject = _("You are invited to %(company)s", company=company)
            lines = [
                _("Hello %(name)s,", name=name),
                "",
                _(
                    "%(inviter)s invited you to %(company)s. Choose your password here:",
                    inviter=invited_by.name or invited_by.email,
                    company=company,
                ),
                link,
                "",
                _("The link works once and for three days."),
            ]
        else:
            subject = _("Reset your %(company)s password", company=company)
            lines = [
                _("Hello %(name)s,", name=name),
                "",
                _("Someone asked to reset your password. Choose a new one here:"),
                link,
                "",
                _("The link works once and for one hour."),
                _("If you did not ask for this, ignore this message: nothing changes."),
            ]
    message = EmailMessage()
    message["To"] = user.email
    message["Subject"] = " ".join(subject.split())[:200]
    message.set_content("\n".join(lines) + "\n")
    mail.send_or_queue(current_app, message)


def set_new_password(user: User, reset: PasswordReset, password: str) -> None:
    """Set the password through the record service (which revokes the user's API tokens) and
    burn the user's reset links.

    Raises :class:`ValidationError` when the password breaks the policy (nothing is changed).
    """
    crm = current_crm()
    session = crm.session
    records = crm.records(Access(user=user, is_system=True))
    records.update("users", user, {"password": password}, commit=False)
    now = utcnow()
    session.execute(
        update(PasswordReset)
        .where(PasswordReset.user_id == user.id, PasswordReset.used_at.is_(None))
        .values(used_at=now)
    )
    records.commit()


# TOTP -----------------------------------------------------------------------------------------


def enrol_secret(user: User, nonce: str) -> str:
    """The secret offered while enrolling: derived from the app's key, never kept in a cookie."""
    key = str(current_app.config["SECRET_KEY"]).encode()
    digest = hmac.new(key, f"totp-enrol:{user.id}:{nonce}".encode(), hashlib.sha256).digest()
    return base64.b32encode(digest[:20]).decode()


def check_code(user_id: int, secret: str, code: str) -> bool:
    """Whether ``code`` is valid now and not used before (:mod:`crmcore.users.second_factor`)."""
    return second_factor.check_code(current_crm(), user_id, secret, code)


def check_second_factor(user: User, code: str) -> str | None:
    """``"totp"``, ``"recovery"`` (consumed; the caller commits) or ``None``."""
    return second_factor.check_second_factor(current_crm(), user, code)


def issue_recovery_codes(user: User) -> list[str]:
    """Replace the user's recovery codes; returns the new ones (to show once)."""
    codes = recovery.new_codes()
    records = current_crm().records(Access(user=user, is_system=True))
    records.update(
        "users", user, {}, internal={"totp_recovery": [recovery.digest(c) for c in codes]}
    )
    return codes


def _show_codes(codes: list[str]) -> Response:
    response = make_response(render_template("web/account/recovery_codes.html", codes=codes))
    response.headers["Cache-Control"] = "no-store"
    return response


def qr_svg(uri: str) -> Markup:
    """The QR code of ``uri`` as inline SVG markup (no external service, no inline style)."""
    svg = segno.make(uri, error="m").svg_inline(scale=5, border=2, title=_("QR code"))
    return Markup(svg)  # noqa: S704 - generated by segno from our own URI


def _pending_user() -> tuple[User, dict[str, Any]] | None:
    """The user who gave the right password and still owes a code, if any."""
    from .session import fingerprint

    pending = cookie.get(PENDING_KEY)
    if not isinstance(pending, dict) or pending.get("exp", 0) < time.time():
        return None
    user = current_crm().session.get(User, int(pending.get("uid", 0)))
    if user is None or not user.active or user.deleted_at is not None or not user.totp_secret:
        return None
    if not hmac.compare_digest(fingerprint(user), str(pending.get("fp", ""))):
        return None
    return user, pending


def start_second_factor(user: User, remember: bool, next_url: str) -> Response | None:
    """After the password step: the redirect to the code page when ``user`` has TOTP."""
    from .session import fingerprint

    if not user.totp_secret:
        return None
    cookie[PENDING_KEY] = {
        "uid": user.id,
        "fp": fingerprint(user),
        "remember": remember,
        "next": next_url,
        "exp": time.time() + PENDING_SECONDS,
    }
    return redirect(url_for("web_account.login_code"), 303)


def _pending_key() -> str:
    pending = cookie.get(PENDING_KEY)
    uid = pending.get("uid") if isinstance(pending, dict) else None
    return rate_key(uid or request.remote_addr or "")


def _user_key() -> str:
    user = g.get("crm_user")
    return rate_key(user.id if user is not None else request.remote_addr or "")


def _forgot_key() -> str:
    email = str(request.form.get("email") or "").strip().lower()[:254]
    return f"web-forgot:{email}"


def _failed(_response: Response) -> bool:
    return bool(g.get("crm_auth_failed", False))


def require_admin_totp() -> Response | None:
    """Send administrators without a second factor to enrol when the instance requires one."""
    user = g.get("crm_user")
    access = g.get("crm_access")
    if user is None or access is None or user.totp_secret or not is_admin(access):
        return None
    if request.endpoint in ENROL_ALLOWED or request.path.startswith("/api/"):
        return None
    if not get_settings(current_crm().session).get("require_totp_for_admins"):
        return None
    flash(_("Administrators of this CRM need a second factor: set it up to go on."), "error")
    return redirect(url_for("web_account.totp"), 303)


def _check_password_and_code(user: User) -> dict[str, list[str]]:
    """The current password and a second-factor code (or a recovery code) from the form."""
    errors: dict[str, list[str]] = {}
    if not verify_password(user.password_hash, request.form.get("password", "")):
        errors["password"] = [_("This is not your current password.")]
    elif check_second_factor(user, request.form.get("code", "")) is None:
        errors["code"] = [_("This code is not valid. Enter the current code of your app.")]
    if errors:
        g.crm_auth_failed = True
    return errors


def _totp_page_with(user: User, errors: dict[str, list[str]]) -> tuple[str, int]:
    page = render_template(
        "web/account/totp.html", enabled=True, errors=errors, left=len(user.totp_recovery)
    )
    return page, 422


# pages ----------------------------------------------------------------------------------------


def make_blueprint(crm: Any) -> Blueprint:
    bp = Blueprint("web_account", __name__)
    limiter, rate = crm.limiter, crm.settings.login_rate_limit
    bp.before_app_request(require_admin_totp)

    @bp.route("/password/forgot", methods=["GET", "POST"])
    @public
    @limiter.limit(FORGOT_RATE_PER_EMAIL, key_func=_forgot_key, methods=["POST"])
    @limiter.limit(rate, methods=["POST"])
    def forgot() -> Any:
        if request.method == "GET":
            return render_template("web/account/forgot.html", sent=False, email="")
        email = str(request.form.get("email", "")).strip().lower()[:254]
        session_ = current_crm().session
        user = session_.scalar(select(User).where(User.email == email)) if email else None
        if user is not None and user.active and user.deleted_at is None:
            token = issue_reset(session_, user)
            session_.commit()
            send_reset_mail(user, token)
        # the same answer whether or not the address is known
        return render_template("web/account/forgot.html", sent=True, email=email)

    @bp.route("/password/reset/<token>", methods=["GET", "POST"])
    @public
    @limiter.limit(rate, methods=["POST"], deduct_when=_failed)
    def reset(token: str) -> Any:
        session_ = current_crm().session
        found = find_reset(session_, token)
        if found is None:
            g.crm_auth_failed = True
            return render_template("web/account/reset.html", invalid=True, errors={}), 404
        row, user = found
        errors: dict[str, list[str]] = {}
        if request.method == "POST":
            new = request.form.get("new_password", "")
            if new != request.form.get("confirm_password", ""):
                errors["confirm_password"] = [_("The two new passwords differ.")]
            else:
                try:
                    set_new_password(user, row, new)
                except ValidationError as exc:
                    current_crm().records().rollback()
                    found_errors = field_errors(exc.messages)
                    errors["new_password"] = found_errors.get("password") or [
                        m for v in found_errors.values() for m in v
                    ]
                else:
                    cookie.pop(PENDING_KEY, None)
                    flash(_("Your password is set. Sign in with it."), "success")
                    return redirect(url_for("web_auth.login"), 303)
        return render_template(
            "web/account/reset.html", invalid=False, errors=errors, email=user.email
        ), (422 if errors else 200)

    @bp.route("/login/code", methods=["GET", "POST"])
    @public
    @limiter.limit(TOTP_RATE, key_func=_pending_key, methods=["POST"], deduct_when=_failed)
    @limiter.limit(rate, methods=["POST"], deduct_when=_failed)
    def login_code() -> Any:
        found = _pending_user()
        if found is None:
            cookie.pop(PENDING_KEY, None)
            return redirect(url_for("web_auth.login"), 303)
        user, pending = found
        error = None
        if request.method == "POST":
            how = check_second_factor(user, request.form.get("code", ""))
            if how is not None:
                from .auth import _sign_in

                next_url = safe_next(pending.get("next"))
                _sign_in(user, remember=bool(pending.get("remember")))
                user.last_login_at = utcnow()
                current_crm().session.commit()
                if how == "recovery":
                    flash(
                        _(
                            "You signed in with a recovery code; %(left)s left. Make new "
                            "ones in your two-factor settings.",
                            left=len(user.totp_recovery),
                        ),
                        "warning",
                    )
                return redirect(next_url, 303)
            g.crm_auth_failed = True
            error = _("This code is not valid. Enter the current code of your app.")
        return render_template("web/account/login_code.html", error=error), 401 if error else 200

    @bp.route("/account/totp", methods=["GET", "POST"])
    @limiter.limit(TOTP_RATE, key_func=_user_key, methods=["POST"], deduct_when=_failed)
    def totp() -> Any:
        user: User = g.crm_user
        if user.totp_secret:
            return render_template(
                "web/account/totp.html", enabled=True, errors={}, left=len(user.totp_recovery)
            )
        nonce = cookie.get(ENROL_KEY)
        if not isinstance(nonce, str):  # kept while enrolling, so a reload shows the same key
            nonce = secrets.token_urlsafe(16)
            cookie[ENROL_KEY] = nonce
        secret = enrol_secret(user, nonce)
        errors: dict[str, list[str]] = {}
        if request.method == "POST":
            if check_code(user.id, secret, request.form.get("code", "")):
                records = current_crm().records(Access(user=user, is_system=True))
                records.update("users", user, {}, internal={"totp_secret": secret})
                cookie.pop(ENROL_KEY, None)
                flash(_("Two-factor sign-in is on."), "success")
                return _show_codes(issue_recovery_codes(user))
            g.crm_auth_failed = True
            errors["code"] = [_("This code is not valid. Enter the current code of your app.")]
        uri = pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=TOTP_ISSUER)
        return render_template(
            "web/account/totp.html",
            enabled=False,
            secret=secret,
            uri=uri,
            qr=qr_svg(uri),
            errors=errors,
        ), (422 if errors else 200)

    @bp.route("/account/totp/disable", methods=["POST"])
    @limiter.limit(TOTP_RATE, key_func=_user_key, deduct_when=_failed)
    def totp_disable() -> Any:
        user: User = g.crm_user
        if not user.totp_secret:
            return redirect(url_for("web_account.totp"), 303)
        errors = _check_password_and_code(user)
        if errors:
            return _totp_page_with(user, errors)
        records = current_crm().records(Access(user=user, is_system=True))
        records.update("users", user, {}, internal={"totp_secret": None, "totp_recovery": []})
        flash(_("Two-factor sign-in is off."), "success")
        return redirect(url_for("web_account.totp"), 303)

    @bp.route("/account/totp/recovery", methods=["POST"])
    @limiter.limit(TOTP_RATE, key_func=_user_key, deduct_when=_failed)
    def totp_recovery() -> Any:
        user: User = g.crm_user
        if not user.totp_secret:
            return redirect(url_for("web_account.totp"), 303)
        errors = _check_password_and_code(user)
        if errors:
            return _totp_page_with(user, errors)
        return _show_codes(issue_recovery_codes(user))

    return bp
