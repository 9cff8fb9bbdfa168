"""The saved report's schema (the core adds the owner)."""

from __future__ import annotations

from crmcore import RecordSchema
from marshmallow import fields, validate

from .models import CHARTS, PIN_RANGES, SCHEDULES, VISIBILITIES


class ReportSchema(RecordSchema):
    name = fields.String(required=True, validate=validate.Length(1, 200))
    description = fields.String(allow_none=True, validate=validate.Length(0, 2000))
    definition = fields.Dict(
        required=True,
        metadata={"description": "The report definition (see the ReportDefinition schema)."},
    )
    chart = fields.String(validate=validate.OneOf(CHARTS))
    visibility = fields.String(
        validate=validate.OneOf(VISIBILITIES),
        metadata={"hint": "Private: you alone. Team or role: shared with its members."},
    )
    team_id = fields.Integer(allow_none=True, metadata={"reference": "team"})
    role_id = fields.Integer(allow_none=True, metadata={"reference": "role"})
    pinned = fields.Boolean(metadata={"hint": "Show the report on your dashboard."})
    pin_range = fields.String(allow_none=True, validate=validate.OneOf(PIN_RANGES))
    pin_field = fields.String(
        allow_none=True,
        validate=validate.Length(1, 100),
        metadata={"hint": "The date field the dashboard's range applies to (created_at if empty)."},
    )
    pin_from = fields.Date(allow_none=True)
    pin_to = fields.Date(allow_none=True)
    schedule = fields.String(
        allow_none=True,
        validate=validate.OneOf(SCHEDULES),
        metadata={"hint": "E-mail the report daily, weekly (Mondays) or monthly (on the 1st)."},
    )
    recipients = fields.List(
        fields.Email(validate=validate.Length(1, 254)),
        validate=validate.Length(0, 50),
        metadata={"hint": "E-mail addresses of users of this CRM who may read the report."},
    )
    last_sent_at = fields.AwareDateTime(dump_only=True)
