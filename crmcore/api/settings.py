"""Instance settings over the API: ``GET /api/v1/settings`` and ``PATCH /api/v1/settings``.

Any signed-in user may read the settings (pages and clients need the currency, time zone and
working hours); changing them needs the named permission ``settings.manage``. Values are
validated by :class:`SettingsSchema`, shared with the administration page, and every change is
written to the audit log (entity ``setting``).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from typing import Any

from flask import g
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate, validates, validates_schema
from sqlalchemy.orm import Session

from ..audit import record_audit
from ..errors import PermissionDenied
from ..errors import ValidationError as CRMValidationError
from ..fields import Country, TimeZone
from ..settings import DEFAULTS, Setting, forget_settings, get_settings
from .resources import ERROR_RESPONSES, json_body

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
MAX_HOLIDAYS = 366


@functools.cache
def currency_codes() -> frozenset[str]:
    """ISO 4217 codes known to Babel's CLDR data."""
    from babel.numbers import list_currencies

    return frozenset(list_currencies())


class Holiday(Schema):
    date = fields.Date(required=True)
    name = fields.String(load_default="", validate=validate.Length(max=100))


class SettingsSchema(Schema):
    """Every instance setting; on ``PATCH`` any subset."""

    company_name = fields.String(validate=validate.Length(max=200))
    logo_attachment_id = fields.Integer(
        allow_none=True, metadata={"description": "Set by uploading a logo on the settings page"}
    )
    default_currency = fields.String(metadata={"description": "ISO 4217 code, e.g. EUR"})
    default_country = Country(
        allow_none=True,
        metadata={"description": "ISO 3166-1 code preset in addresses, e.g. ES; empty for none"},
    )
    phone_region = Country(
        allow_none=True,
        metadata={
            "description": "Country whose numbers may be written without +, e.g. ES; empty: "
            "the default country (CRM_DEFAULT_REGION overrides both)"
        },
    )
    language = fields.String(
        validate=validate.OneOf(["", "en", "es"]),  # the web's LANGUAGES
        metadata={"description": "Default language (en, es); empty: the browser's"},
    )
    time_zone = TimeZone()
    base_url = fields.String(
        validate=validate.Length(max=300),
        metadata={
            "description": "Public address of the CRM for links in mail, e.g. "
            "https://crm.example.com; empty: the address `crm serve` listens on "
            "(CRM_BASE_URL overrides it)"
        },
    )
    working_hours = fields.Dict(
        keys=fields.String(validate=validate.OneOf(WEEKDAYS)),
        values=fields.List(fields.String(), validate=validate.Length(equal=2)),
        metadata={
            "description": 'Per weekday, opening and closing time: {"mon": ["09:00", '
            '"17:00"]}; a day left out is closed'
        },
    )
    holidays = fields.List(fields.Nested(Holiday), validate=validate.Length(max=MAX_HOLIDAYS))
    require_totp_for_admins = fields.Boolean()
    webhook_allowed_hosts = fields.List(
        fields.String(validate=validate.Length(1, 253)),
        validate=validate.Length(max=100),
        metadata={
            "description": "Host names that outbound webhooks may call although they resolve "
            "to private or loopback addresses (the automation plugin's SSRF guard), e.g. "
            '["127.0.0.1"]'
        },
    )
    trash_retention_days = fields.Integer(
        strict=True,
        validate=validate.Range(min=0, max=3650),
        metadata={
            "description": "Days a record stays in the trash before it is deleted for good; "
            "0 keeps it until the trash is emptied"
        },
    )

    @validates("default_currency")
    def _currency(self, value: str, **_kw: Any) -> None:
        if value not in currency_codes():
            raise ValidationError("Not an ISO 4217 currency code (e.g. EUR, USD).")

    @validates("base_url")
    def _base_url(self, value: str, **_kw: Any) -> None:
        if value.strip() and not _is_base_url(value.strip()):
            raise ValidationError(
                "Not a valid address: http:// or https://, a host, no query (e.g. "
                "https://crm.example.com)."
            )

    @validates("working_hours")
    def _hours(self, value: dict[str, list[str]], **_kw: Any) -> None:
        for day, span in value.items():
            if not all(isinstance(t, str) and _HHMM.match(t) for t in span):
                raise ValidationError(f"{day}: use HH:MM times.")
            if span[0] >= span[1]:
                raise ValidationError(f"{day}: the closing time must be after the opening time.")

    @validates_schema
    def _unique_holidays(self, data: dict[str, Any], **_kw: Any) -> None:
        days = [h["date"] for h in data.get("holidays") or ()]
        if len(days) != len(set(days)):
            raise ValidationError("Each date only once.", "holidays")


def _is_base_url(value: str) -> bool:
    """An absolute http(s) address with a host and nothing after the path."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018  (raises on a bad port)
    except ValueError:
        return False
    return (
        parts.scheme in ("http", "https")
        and bool(parts.hostname)
        and not parts.query
        and not parts.fragment
        and not parts.username
        and not any(c.isspace() for c in value)
    )


def _stored(name: str, value: Any) -> Any:
    """A loaded value in the JSON form kept in ``core_setting``."""
    if name == "holidays":
        return [
            {"date": h["date"].isoformat(), "name": h.get("name", "")}
            for h in sorted(value, key=lambda h: h["date"])
        ]
    if name == "working_hours":
        return {day: list(value[day]) for day in WEEKDAYS if day in value}
    if name in ("default_country", "phone_region"):
        return value or ""
    if name == "base_url":
        return value.strip().rstrip("/")
    if name == "webhook_allowed_hosts":
        return sorted({h.strip().strip("[]").rstrip(".").lower() for h in value if h.strip()})
    return value


def load_changes(data: dict[str, Any]) -> dict[str, Any]:
    """Validate a partial change; raises the CRM's ``ValidationError`` with per-field messages."""
    unknown = sorted(set(data) - set(DEFAULTS))
    try:
        # partial at the top only: a holiday still needs its date
        loaded = SettingsSchema(partial=tuple(SettingsSchema._declared_fields)).load(data)
    except ValidationError as exc:
        messages = dict(exc.messages)  # type: ignore[arg-type]
        for name in unknown:
            messages[name] = ["Unknown setting."]
        raise CRMValidationError(messages) from None
    if unknown:
        raise CRMValidationError({name: ["Unknown setting."] for name in unknown})
    return {name: _stored(name, value) for name, value in loaded.items()}


def save_settings(session: Session, changes: dict[str, Any], user_id: int | None) -> list[str]:
    """Store validated ``changes``; audit and commit; return the names that changed."""
    current = get_settings(session)
    changed: dict[str, tuple[Any, Any]] = {}
    for name, value in changes.items():
        if current.get(name) == value:
            continue
        row = session.get(Setting, name)
        if row is None:
            session.add(Setting(key=name, value=value))
        else:
            row.value = value
        changed[name] = (current.get(name), value)
    if changed:
        record_audit(session, "setting", 0, "update", user_id, changed)
    session.commit()
    forget_settings()
    return sorted(changed)


def dump_settings(session: Session) -> dict[str, Any]:
    """Every setting, ready for :class:`SettingsSchema` to dump."""
    values = get_settings(session)
    out = {name: values.get(name, default) for name, default in DEFAULTS.items()}
    out["holidays"] = [
        {"date": dt.date.fromisoformat(h["date"]), "name": h.get("name", "")}
        for h in out.get("holidays") or ()
        if isinstance(h, dict) and h.get("date")
    ]
    return out


def make_blueprint() -> Blueprint:
    from ..app import current_crm

    blp = Blueprint("api_settings", __name__, url_prefix="/api/v1", description="Instance settings")

    @blp.route("/settings", methods=["GET"])
    @blp.doc(summary="The instance settings", responses=ERROR_RESPONSES)
    @blp.response(200, SettingsSchema)
    def read() -> Any:
        return dump_settings(current_crm().session)

    @blp.route("/settings", methods=["PATCH"])
    @blp.doc(
        summary="Change instance settings (needs settings.manage)",
        responses=ERROR_RESPONSES,
        requestBody={
            "required": True,
            "content": {"application/json": {"schema": SettingsSchema}},
        },
    )
    @blp.response(200, SettingsSchema)
    def change() -> Any:
        if not g.crm_access.has("settings.manage"):
            raise PermissionDenied("You may not change the instance settings.")
        changes = load_changes(json_body())
        if changes.get("logo_attachment_id") is not None:
            # a logo is shown to everyone: only an upload on the settings page may set one, so
            # no other attachment can be published through this setting
            current = get_settings(current_crm().session).get("logo_attachment_id")
            if changes["logo_attachment_id"] != current:
                raise CRMValidationError(
                    {"logo_attachment_id": ["Upload a logo on the settings page; here only null."]}
                )
        session = current_crm().session
        save_settings(session, changes, g.crm_user.id)
        return dump_settings(session)

    return blp
