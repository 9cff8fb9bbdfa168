"""Marshmallow schemas of the marketing entities."""

from __future__ import annotations

from marshmallow import fields, validate

from crmcore import RecordSchema

from .models import CAMPAIGN_KINDS, CAMPAIGN_STATUSES, SEGMENT_KINDS

_QUERY = validate.Length(max=2000)
MAX_BODY = 500_000


class SegmentSchema(RecordSchema):
    name = fields.String(required=True, validate=validate.Length(1, 200))
    description = fields.String(allow_none=True, validate=validate.Length(max=5000))
    kind = fields.String(validate=validate.OneOf(SEGMENT_KINDS), load_default="dynamic")
    query = fields.String(
        validate=_QUERY,
        metadata={"description": "contacts in the list language: tags=vip&country=ES"},
    )
    company_query = fields.String(
        validate=_QUERY,
        metadata={"description": "the contact's company, in the list language of companies"},
    )
    conditions = fields.List(
        fields.Dict(),
        metadata={"description": "purchase-history conditions (with crm-sales enabled)"},
    )
    or_groups = fields.List(
        fields.Dict(),
        metadata={
            "description": "more groups of conditions, each {query, company_query, "
            "conditions}: a contact is a member when it matches query, company_query and "
            "conditions above OR all of one of these groups"
        },
    )
    owner_id = fields.Integer(allow_none=True)
    tags = fields.List(fields.String(validate=validate.Length(1, 50)))
    member_count = fields.Method("_member_count", dump_only=True)

    def _member_count(self, segment: object) -> int | None:
        # filled in by the API's segment views (counting is a query per segment, done on demand)
        return getattr(segment, "member_count", None)


class EmailTemplateSchema(RecordSchema):
    name = fields.String(required=True, validate=validate.Length(1, 200))
    subject = fields.String(required=True, validate=validate.Length(1, 300))
    body_html = fields.String(required=True, validate=validate.Length(1, MAX_BODY))
    body_text = fields.String(allow_none=True, validate=validate.Length(max=MAX_BODY))
    owner_id = fields.Integer(allow_none=True)


class CampaignSchema(RecordSchema):
    name = fields.String(required=True, validate=validate.Length(1, 200))
    kind = fields.String(validate=validate.OneOf(CAMPAIGN_KINDS), load_default="email")
    status = fields.String(dump_only=True, metadata={"enum": list(CAMPAIGN_STATUSES)})
    segment_id = fields.Integer(allow_none=True)
    template_id = fields.Integer(allow_none=True, metadata={"reference": "email_template"})
    subject = fields.String(validate=validate.Length(max=300))
    body_html = fields.String(validate=validate.Length(max=MAX_BODY))
    body_text = fields.String(allow_none=True, validate=validate.Length(max=MAX_BODY))
    from_email = fields.String(allow_none=True, validate=validate.Length(max=254))
    from_name = fields.String(allow_none=True, validate=validate.Length(max=200))
    reply_to = fields.String(allow_none=True, validate=validate.Length(max=254))
    send_rate = fields.Integer(allow_none=True, validate=validate.Range(1, 10_000))
    scheduled_at = fields.AwareDateTime(dump_only=True)
    started_at = fields.AwareDateTime(dump_only=True)
    finished_at = fields.AwareDateTime(dump_only=True)
    owner_id = fields.Integer(allow_none=True)
    tags = fields.List(fields.String(validate=validate.Length(1, 50)))
