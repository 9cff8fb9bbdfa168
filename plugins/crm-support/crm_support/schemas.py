"""Marshmallow schemas of the support entities."""

from __future__ import annotations

from marshmallow import fields, validate

from crmcore import RecordSchema

from .models import ASSIGNMENT_RULES, CHANNELS, PRIORITIES, SLA_STATUSES, STATUSES


class TicketSchema(RecordSchema):
    number = fields.String(dump_only=True, metadata={"description": "T-000123"})
    subject = fields.String(required=True, validate=validate.Length(1, 250))
    description = fields.String(allow_none=True, validate=validate.Length(max=100_000))
    status = fields.String(validate=validate.OneOf(STATUSES))
    priority = fields.String(validate=validate.OneOf(PRIORITIES))
    channel = fields.String(validate=validate.OneOf(CHANNELS))
    contact_id = fields.Integer(allow_none=True)
    company_id = fields.Integer(allow_none=True)
    queue_id = fields.Integer(allow_none=True, metadata={"reference": "support_queue"})
    assignee_id = fields.Integer(allow_none=True)
    merged_into_id = fields.Integer(dump_only=True, metadata={"reference": "ticket"})
    first_response_due_at = fields.AwareDateTime(dump_only=True)
    resolution_due_at = fields.AwareDateTime(dump_only=True)
    first_responded_at = fields.AwareDateTime(dump_only=True)
    solved_at = fields.AwareDateTime(dump_only=True)
    sla_status = fields.String(dump_only=True, metadata={"enum": list(SLA_STATUSES)})


class TicketMessageSchema(RecordSchema):
    ticket_id = fields.Integer(required=True)
    body = fields.String(required=True, validate=validate.Length(1, 100_000))
    public = fields.Boolean(load_default=True)
    body_html = fields.String(dump_only=True)
    author_id = fields.Integer(dump_only=True)
    author_contact_id = fields.Integer(dump_only=True)
    channel = fields.String(dump_only=True)
    mail_message_id = fields.String(dump_only=True)
    mail_from = fields.String(dump_only=True)
    automatic = fields.Boolean(dump_only=True)
    attachment_ids = fields.List(fields.Integer(), dump_only=True)


class SupportQueueSchema(RecordSchema):
    name = fields.String(required=True, validate=validate.Length(1, 100))
    email = fields.Email(allow_none=True)
    is_default = fields.Boolean()
    assignment = fields.String(validate=validate.OneOf(ASSIGNMENT_RULES))
    member_ids = fields.List(fields.Integer())
    imap_host = fields.String(allow_none=True, validate=validate.Length(max=255))
    imap_port = fields.Integer(allow_none=True, validate=validate.Range(1, 65535))
    imap_tls = fields.Boolean()
    imap_user = fields.String(allow_none=True, validate=validate.Length(max=255))
    imap_password = fields.String(
        allow_none=True, load_only=True, validate=validate.Length(max=100)
    )
    imap_folder = fields.String(allow_none=True, validate=validate.Length(max=100))


class SlaPolicySchema(RecordSchema):
    name = fields.String(required=True, validate=validate.Length(1, 100))
    priority = fields.String(required=True, validate=validate.OneOf(PRIORITIES))
    first_response_minutes = fields.Integer(required=True, validate=validate.Range(1, 10**6))
    resolution_minutes = fields.Integer(required=True, validate=validate.Range(1, 10**7))
    warn_percent = fields.Integer(validate=validate.Range(1, 99))


class CannedResponseSchema(RecordSchema):
    name = fields.String(required=True, validate=validate.Length(1, 100))
    body = fields.String(required=True, validate=validate.Length(1, 20_000))
