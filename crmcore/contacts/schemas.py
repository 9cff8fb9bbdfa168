"""API schemas of contacts and companies."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from ..fields import Country, Email, Phone, TimeZone
from ..registry import RecordSchema
from ..web.i18n import LANGUAGES

_short = validate.Length(max=100)


class AddressFields(Schema):
    street = fields.String(allow_none=True, validate=validate.Length(max=200))
    city = fields.String(allow_none=True, validate=_short)
    region = fields.String(allow_none=True, validate=_short)
    postal_code = fields.String(allow_none=True, validate=validate.Length(max=20))
    country = Country(allow_none=True)


class LabelledEmail(Schema):
    label = fields.String(load_default="other", validate=validate.Length(max=30))
    value = Email(required=True)


class LabelledPhone(Schema):
    label = fields.String(load_default="other", validate=validate.Length(max=30))
    value = Phone(required=True)


class LabelledAddress(AddressFields):
    label = fields.String(load_default="other", validate=validate.Length(max=30))


class CompanySchema(RecordSchema, AddressFields):
    name = fields.String(required=True, validate=validate.Length(1, 200))
    domain = fields.String(
        allow_none=True,
        validate=[
            validate.Length(max=253),
            validate.Regexp(
                r"^(?=.{1,253}$)([a-z0-9-]{1,63}\.)+[a-z]{2,63}$",
                error="Not a valid domain name (e.g. example.com).",
            ),
        ],
    )
    website = fields.Url(allow_none=True, schemes={"http", "https"})
    phone = Phone(allow_none=True)
    industry = fields.String(allow_none=True, validate=_short)
    description = fields.String(allow_none=True, validate=validate.Length(max=10000))


class ContactSchema(RecordSchema, AddressFields):
    first_name = fields.String(load_default="", validate=_short)
    last_name = fields.String(load_default="", validate=_short)
    title = fields.String(allow_none=True, validate=_short)
    email = Email(allow_none=True, validate=validate.Length(max=254))
    phone = Phone(allow_none=True)
    mobile = Phone(allow_none=True)
    emails = fields.List(fields.Nested(LabelledEmail), validate=validate.Length(max=10))
    phones = fields.List(fields.Nested(LabelledPhone), validate=validate.Length(max=10))
    addresses = fields.List(fields.Nested(LabelledAddress), validate=validate.Length(max=10))
    company_id = fields.Integer(allow_none=True)
    best_time_from = fields.Time(allow_none=True, metadata={"description": "Best time to call"})
    best_time_to = fields.Time(allow_none=True)
    timezone = TimeZone(allow_none=True)
    locale = fields.String(
        allow_none=True,
        validate=validate.OneOf(list(LANGUAGES)),
        metadata={"description": "Language for mail and documents: en, es"},
    )
    email_opt_out = fields.Boolean()
    email_opt_out_at = fields.AwareDateTime(dump_only=True)
    email_opt_out_source = fields.String(allow_none=True, validate=_short)
    consent_at = fields.AwareDateTime(allow_none=True)
    consent_source = fields.String(allow_none=True, validate=_short)
    source = fields.String(allow_none=True, validate=_short)
    description = fields.String(allow_none=True, validate=validate.Length(max=10000))

    @validates_schema
    def check_name(self, data: dict[str, Any], **_kw: Any) -> None:
        if self.partial:
            return
        if not (data.get("first_name") or data.get("last_name") or data.get("email")):
            raise ValidationError("Give at least a name or an e-mail address.", "last_name")
