"""What the API and the forms accept for a claim, and the inputs of its actions."""

from __future__ import annotations

from crmcore import RecordSchema
from marshmallow import Schema, fields, validate

STATUSES = ("open", "approved", "rejected")


class ClaimSchema(RecordSchema):
    """``id``, the timestamps, ``owner_id``, ``tags`` and ``custom_fields`` come from the core."""

    title = fields.String(required=True, validate=validate.Length(1, 200))
    description = fields.String(allow_none=True)
    amount = fields.Decimal(
        as_string=True, load_default="0", places=2, validate=validate.Range(min=0, max=10**9)
    )
    # set only by the approve and reject actions: the forms show it read-only
    status = fields.String(dump_only=True, validate=validate.OneOf(STATUSES))
    decision_note = fields.String(dump_only=True)
    # references: pickers in forms, names on pages, and on every write the core refuses (422)
    # a contact or company that does not exist or that the user may not read
    contact_id = fields.Integer(required=True, metadata={"reference": "contacts"})
    company_id = fields.Integer(allow_none=True, metadata={"reference": "companies"})


class DecisionSchema(Schema):
    """The input of approve and reject: a note the customer's file keeps."""

    note = fields.String(load_default="", validate=validate.Length(max=500))
