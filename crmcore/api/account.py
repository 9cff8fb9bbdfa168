"""Signing in to the API: ``POST /api/v1/auth/token``, personal tokens, ``GET /api/v1/me``."""

from __future__ import annotations

from typing import Any

from flask import g, request
from flask.views import MethodView
from flask_limiter import Limiter
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from ..app import current_crm
from ..audit import record_sign_in
from ..db import utcnow
from ..errors import NotFound, PermissionDenied, Unauthorized, ValidationError
from ..users.models import ApiToken, User
from ..users.second_factor import TOTP_RATE, check_second_factor, must_enrol, rate_key
from .auth import authenticate, issue_token, personal_token_hours
from .resources import ERROR_RESPONSES, json_body


class Credentials(Schema):
    email = fields.String(required=True)
    password = fields.String(required=True, load_only=True)
    totp = fields.String(
        load_only=True, metadata={"description": "Code of the authenticator app, if enabled"}
    )


class TokenAnswer(Schema):
    token = fields.String(metadata={"description": "Send as Authorization: Bearer <token>"})
    expires_at = fields.AwareDateTime(allow_none=True)


class NewToken(Schema):
    name = fields.String(required=True, validate=validate.Length(1, 100))
    expires_days = fields.Integer(
        load_default=90,
        validate=validate.Range(min=1),
        allow_none=True,
        metadata={"description": "Days until it expires; at most the instance's token_max_days"},
    )


class TokenInfo(Schema):
    id = fields.Integer()
    name = fields.String()
    prefix = fields.String()
    created_at = fields.AwareDateTime()
    expires_at = fields.AwareDateTime(allow_none=True)
    last_used_at = fields.AwareDateTime(allow_none=True)


class TokenList(Schema):
    data = fields.List(fields.Nested(TokenInfo))


class Me(Schema):
    id = fields.Integer()
    email = fields.String()
    name = fields.String()
    locale = fields.String()
    timezone = fields.String()
    role = fields.String(allow_none=True)
    grants = fields.Dict()
    permissions = fields.List(fields.String())


def public(view: Any) -> Any:
    """Mark a view as reachable without a token (every other API view needs one)."""
    view.crm_public = True
    return view


def _account_key() -> str:
    data = request.get_json(silent=True)
    email = data.get("email") if isinstance(data, dict) else None
    return f"login-account:{str(email or '').strip().lower()[:254]}"


def _totp_key() -> str:
    """Wrong codes count against the user, under the same key as on the sign-in page."""
    data = request.get_json(silent=True)
    email = data.get("email") if isinstance(data, dict) else None
    user_id = None
    if isinstance(email, str) and email.strip():
        user_id = current_crm().session.scalar(
            select(User.id).where(User.email == email.strip().lower()[:254])
        )
    return rate_key(user_id if user_id is not None else f"unknown:{request.remote_addr}")


def _wrong_code(_response: Any) -> bool:
    return bool(g.get("crm_wrong_code", False))


def make_blueprint(limiter: Limiter, rate: str) -> Blueprint:
    blp = Blueprint("api_auth", __name__, url_prefix="/api/v1", description="Signing in")

    @blp.route("/auth/token", methods=["POST"])
    @blp.doc(
        requestBody={"required": True, "content": {"application/json": {"schema": Credentials}}},
        responses=ERROR_RESPONSES,
        security=[],
        summary="Exchange e-mail and password for a token",
    )
    @blp.response(200, TokenAnswer)
    @public
    @limiter.limit(TOTP_RATE, key_func=_totp_key, deduct_when=_wrong_code)
    @limiter.limit(rate, key_func=_account_key)
    @limiter.limit(rate)
    def token() -> Any:
        data = json_body()
        crm = current_crm()
        session = crm.session
        user = authenticate(session, data.get("email"), data.get("password"))
        email = data.get("email") if isinstance(data.get("email"), str) else ""
        record_sign_in(session, getattr(user, "id", None), email, ok=user is not None, via="api")
        session.commit()
        if user is None:
            raise Unauthorized("Wrong e-mail or password.")
        if user.totp_secret:
            if check_second_factor(crm, user, str(data.get("totp") or "")) is None:
                g.crm_wrong_code = True
                raise Unauthorized(
                    "Send the current code of your authenticator app (or a recovery code) as totp."
                )
        elif must_enrol(crm, user):
            raise PermissionDenied(
                "Administrators of this CRM need a second factor: set it up on the "
                "two-factor page of the web application first."
            )
        secret, row = issue_token(session, user, "login", crm.settings.token_hours)
        user.last_login_at = utcnow()
        session.commit()
        return {"token": secret, "expires_at": row.expires_at}

    @blp.route("/auth/tokens")
    class Tokens(MethodView):
        @blp.response(200, TokenList)
        @blp.doc(summary="Your personal tokens (never their secrets)", responses=ERROR_RESPONSES)
        def get(self) -> Any:
            session = current_crm().session
            rows = session.scalars(
                select(ApiToken)
                .where(ApiToken.user_id == g.crm_user.id, ApiToken.revoked_at.is_(None))
                .order_by(ApiToken.id.desc())
            )
            now = utcnow()
            return {"data": [r for r in rows if not r.expires_at or r.expires_at > now]}

        @blp.doc(
            requestBody={"required": True, "content": {"application/json": {"schema": NewToken}}},
            responses=ERROR_RESPONSES,
            summary="Create a personal token; its secret is shown once",
        )
        @blp.response(201, TokenAnswer)
        def post(self) -> Any:
            import marshmallow

            try:
                data = NewToken().load(json_body())
            except marshmallow.ValidationError as exc:
                raise ValidationError(dict(exc.messages)) from None  # type: ignore[arg-type]
            crm = current_crm()
            hours = personal_token_hours(data["expires_days"], crm.settings.token_max_days)
            secret, row = issue_token(crm.session, g.crm_user, data["name"], hours)
            crm.session.commit()
            return {"token": secret, "expires_at": row.expires_at}, 201

    @blp.route("/auth/tokens/<int:token_id>", methods=["DELETE"])
    @blp.doc(summary="Revoke one of your tokens", responses=ERROR_RESPONSES)
    @blp.response(204)
    def revoke(token_id: int) -> Any:
        session = current_crm().session
        row = session.get(ApiToken, token_id)
        if row is None or row.user_id != g.crm_user.id or row.revoked_at is not None:
            raise NotFound("No such token.")
        row.revoked_at = utcnow()
        session.commit()
        return "", 204

    @blp.route("/me")
    @blp.doc(summary="The signed-in user and what they may do", responses=ERROR_RESPONSES)
    @blp.response(200, Me)
    def me() -> Any:
        user, access = g.crm_user, g.crm_access
        return {
            "id": user.id,
            "email": user.email,
            "name": user.name,
            "locale": user.locale,
            "timezone": user.timezone,
            "role": user.role.name if user.role else None,
            "grants": dict(access.grants),
            "permissions": sorted(access.permissions),
        }

    return blp
