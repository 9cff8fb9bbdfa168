"""Signing in and out, the password page, personal API tokens and the language switch."""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    Response,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user
from sqlalchemy import select

from ..api.auth import authenticate, issue_token
from ..app import current_crm
from ..audit import record_sign_in
from ..db import utcnow
from ..errors import ValidationError
from ..permissions import Access
from ..users.models import ApiToken, User
from ..users.passwords import verify_password
from ..users.sessions import end_sessions
from .forms import field_errors
from .i18n import LANGUAGES
from .security import public, safe_next
from .session import Account

TOKEN_LIFETIMES = (30, 90, 365)


def _login_account_key() -> str:
    email = str(request.form.get("email") or "").strip().lower()[:254]
    return f"web-login-account:{email}"


def _password_account_key() -> str:
    user = g.get("crm_user")
    return f"web-password:{user.id if user is not None else request.remote_addr}"


def _failed(_response: Response) -> bool:
    """Only failed attempts count against the limits."""
    return bool(g.get("crm_auth_failed", False))


def _own_record_service(user: User) -> Any:
    """Writes a user makes to their own account (password, language) whatever their role.

    Still the one write path: validated by the users schema, audited under the user's id.
    """
    return current_crm().records(Access(user=user, is_system=True))


def _sign_in(user: User, remember: bool) -> None:
    """Start a fresh session for ``user``: nothing of the previous session survives."""
    locale = session.get("locale")
    session.clear()
    if locale:
        session["locale"] = locale
    login_user(Account(user), remember=remember)


def make_blueprint(crm: Any) -> Blueprint:
    bp = Blueprint("web_auth", __name__)
    limiter, rate = crm.limiter, crm.settings.login_rate_limit

    @bp.route("/login", methods=["GET", "POST"])
    @public
    @limiter.limit(rate, key_func=_login_account_key, methods=["POST"], deduct_when=_failed)
    @limiter.limit(rate, methods=["POST"], deduct_when=_failed)
    def login() -> Any:
        next_url = safe_next(request.values.get("next"))
        if current_user.is_authenticated:
            return redirect(next_url)
        error = None
        email = ""
        if request.method == "POST":
            email = str(request.form.get("email", ""))[:254]
            crm_ = current_crm()
            user = authenticate(crm_.session, email, request.form.get("password", ""))
            record_sign_in(
                crm_.session, getattr(user, "id", None), email, ok=user is not None, via="web"
            )
            crm_.session.commit()
            if user is not None:
                from .account import start_second_factor

                second = start_second_factor(user, bool(request.form.get("remember")), next_url)
                if second is not None:
                    return second
                _sign_in(user, remember=bool(request.form.get("remember")))
                user.last_login_at = utcnow()
                crm_.session.commit()
                return redirect(next_url, 303)
            g.crm_auth_failed = True
            error = _("Wrong e-mail or password.")
        status = 401 if error else 200
        return render_template(
            "web/login.html", error=error, email=email, next=request.values.get("next", "")
        ), status

    @bp.route("/logout", methods=["POST"])
    def logout() -> Any:
        user = g.get("crm_user")
        if user is not None:  # copies of the session cookie stop working too
            end_sessions(current_crm().session, user)
            current_crm().session.commit()
        logout_user()
        locale = session.get("locale")
        session.clear()
        if locale:
            session["locale"] = locale
        flash(_("You are signed out."), "info")
        return redirect(url_for("web_auth.login"), 303)

    @bp.route("/account/password", methods=["GET", "POST"])
    @limiter.limit(rate, key_func=_password_account_key, methods=["POST"], deduct_when=_failed)
    def password() -> Any:
        user: User = g.crm_user
        errors: dict[str, list[str]] = {}
        if request.method == "POST":
            current = request.form.get("current_password", "")
            new = request.form.get("new_password", "")
            if not verify_password(user.password_hash, current):
                g.crm_auth_failed = True
                errors["current_password"] = [_("This is not your current password.")]
            elif new != request.form.get("confirm_password", ""):
                errors["confirm_password"] = [_("The two new passwords differ.")]
            else:
                try:
                    _own_record_service(user).update("users", user, {"password": new})
                except ValidationError as exc:
                    found = field_errors(exc.messages)
                    errors["new_password"] = found.get("password") or [
                        m for v in found.values() for m in v
                    ]
                else:
                    _sign_in(user, remember=False)  # the old sessions ended with the old password
                    flash(_("Your password has been changed."), "success")
                    return redirect(url_for("web_auth.password"), 303)
        return render_template("web/password.html", errors=errors), 422 if errors else 200

    @bp.route("/account/tokens", methods=["GET", "POST"])
    def tokens() -> Any:
        user: User = g.crm_user
        session_ = current_crm().session
        secret = None
        errors: dict[str, list[str]] = {}
        max_days = current_crm().settings.token_max_days
        lifetimes = [d for d in TOKEN_LIFETIMES if d <= max_days] or [max_days]
        if request.method == "POST":
            name = str(request.form.get("name", "")).strip()
            days_raw = request.form.get("expires_days", "90")
            days = int(days_raw) if days_raw in {str(d) for d in lifetimes} else None
            if not 1 <= len(name) <= 100:
                errors["name"] = [_("Give the token a name (up to 100 characters).")]
            elif days is None:
                errors["expires_days"] = [
                    _("Choose when the token expires: every token expires within %(days)d days.",
                      days=max_days)
                ]  # fmt: skip
            else:
                secret, _row = issue_token(session_, user, name, days * 24)
                session_.commit()
        now = utcnow()
        rows = [
            t
            for t in session_.scalars(
                select(ApiToken)
                .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
                .order_by(ApiToken.id.desc())
            )
            if not t.expires_at or t.expires_at > now
        ]
        status = 201 if secret else (422 if errors else 200)
        return render_template(
            "web/tokens.html", tokens=rows, secret=secret, errors=errors, lifetimes=lifetimes
        ), status

    @bp.route("/account/tokens/<int:token_id>/revoke", methods=["POST"])
    def revoke_token(token_id: int) -> Any:
        session_ = current_crm().session
        row = session_.get(ApiToken, token_id)
        if row is None or row.user_id != g.crm_user.id or row.revoked_at is not None:
            from ..errors import NotFound

            raise NotFound(_("No such token."))
        row.revoked_at = utcnow()
        session_.commit()
        flash(_("The token %(name)s was revoked.", name=row.name), "success")
        return redirect(url_for("web_auth.tokens"), 303)

    @bp.route("/language", methods=["POST"])
    @public
    def language() -> Any:
        locale = request.form.get("locale", "")
        back = safe_next(request.form.get("next"))
        if locale not in LANGUAGES:
            return redirect(back, 303)
        session["locale"] = locale
        user = g.get("crm_user")
        if user is not None and user.locale != locale:
            _own_record_service(user).update("users", user, {"locale": locale})
        return redirect(back, 303)

    return bp
