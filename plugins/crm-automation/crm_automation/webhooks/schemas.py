"""The marshmallow schema of the ``webhook`` entity (the core adds owner and system fields)."""

from __future__ import annotations

from typing import Any

from crmcore import RecordSchema
from marshmallow import fields, validate


class WebhookSchema(RecordSchema):
    name = fields.String(required=True, validate=validate.Length(1, 150))
    url = fields.String(
        required=True,
        validate=validate.Length(1, 2000),
        metadata={"hint": "An https:// address reachable from the internet."},
    )
    entities = fields.String(
        required=True,
        validate=validate.Length(1, 500),
        metadata={"hint": "Plural names, separated by commas: contacts, deals."},
    )
    events = fields.String(
        validate=validate.Length(0, 100),
        metadata={
            "hint": "created, updated, deleted, restored - separated by commas; empty for all."
        },
    )
    active = fields.Boolean()
    #: the signing secret: answered once (on creation and by rotate_secret), else null; not
    #: named after its column so that pages never show it
    signing_secret = fields.Method("_secret", dump_only=True)
    disabled_reason = fields.String(dump_only=True)

    def _secret(self, obj: Any) -> str | None:
        return obj.secret if getattr(obj, "_reveal_secret", False) else None
