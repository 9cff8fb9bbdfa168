"""API schemas of notes, tasks, activities and attachments."""

from __future__ import annotations

from marshmallow import fields, validate

from ..registry import RecordSchema


class LinkedSchema(RecordSchema):
    record_type = fields.String(required=True, metadata={"description": "Entity, e.g. contact"})
    record_id = fields.Integer(required=True)


class NoteSchema(LinkedSchema):
    body = fields.String(required=True, validate=validate.Length(1, 20000))


class TaskSchema(RecordSchema):
    title = fields.String(required=True, validate=validate.Length(1, 200))
    description = fields.String(allow_none=True, validate=validate.Length(max=20000))
    record_type = fields.String(allow_none=True)
    record_id = fields.Integer(allow_none=True)
    status = fields.String(
        load_default="open", validate=validate.OneOf(["open", "done", "cancelled"])
    )
    priority = fields.String(
        load_default="normal", validate=validate.OneOf(["low", "normal", "high"])
    )
    assignee_id = fields.Integer(allow_none=True, metadata={"description": "Defaults to you."})
    due_at = fields.AwareDateTime(allow_none=True)
    reminder_at = fields.AwareDateTime(allow_none=True)
    completed_at = fields.AwareDateTime(dump_only=True)


class ActivitySchema(LinkedSchema):
    kind = fields.String(required=True, validate=validate.OneOf(["call", "meeting", "email"]))
    subject = fields.String(required=True, validate=validate.Length(1, 200))
    body = fields.String(allow_none=True, validate=validate.Length(max=20000))
    direction = fields.String(allow_none=True, validate=validate.OneOf(["in", "out"]))
    occurred_at = fields.AwareDateTime(required=True)
    duration_minutes = fields.Integer(allow_none=True, validate=validate.Range(0, 24 * 60))
    outcome = fields.String(allow_none=True, validate=validate.Length(max=100))


class AttachmentSchema(LinkedSchema):
    filename = fields.String(dump_only=True)
    content_type = fields.String(dump_only=True)
    size = fields.Integer(dump_only=True)
    sha256 = fields.String(dump_only=True)
