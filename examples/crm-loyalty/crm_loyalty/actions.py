"""The "Give points" action on a contact's page (``POST /api/v1/contacts/<id>/give_points``):
one ledger entry for the contact, written through the caller's record service."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from crmcore import ActionResult, RecordAction

from .ledger import PLURAL


class GivePointsInput(Schema):
    """Body of ``POST /api/v1/contacts/<id>/give_points``: negative points redeem."""

    points = fields.Integer(
        required=True, validate=validate.Range(-1_000_000, 1_000_000), metadata={"label": "Points"}
    )
    reason = fields.String(
        required=True, validate=validate.Length(1, 200), metadata={"label": "Reason"}
    )


def _give(records: Any, contact: Any, data: dict[str, Any]) -> ActionResult:
    """Write the entry (the schema and ``ledger.prepare`` refuse zero and overdrafts)."""
    entry = records.create(PLURAL, {"contact_id": contact.id, **data})
    return ActionResult(
        data=records.entity(PLURAL).dump_schema.dump(entry),
        target=(PLURAL, entry.id),
        message="Points recorded.",
    )


def contact_actions() -> list[RecordAction]:
    """Actions the plugin adds to the core's contacts."""
    return [
        RecordAction(
            name="give_points",
            label="Give points",
            handler=_give,
            entity="contacts",
            permission=f"{PLURAL}.create",
            schema=GivePointsInput,
            status=201,
            description="Give (or, with negative points, redeem) loyalty points.",
        )
    ]
