"""The record actions of support: merge a ticket into another (``POST
/api/v1/tickets/<id>/merge``), with its button and dialog on the ticket's page."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields

from crmcore import NotFound, ValidationError
from crmcore.actions import ActionResult, RecordAction


class MergeInput(Schema):
    """Body of ``POST /api/v1/tickets/<id>/merge``."""

    into = fields.Integer(required=True, metadata={"reference": "tickets", "label": "Into ticket"})


def _merge(records: Any, source: Any, data: dict[str, Any]) -> ActionResult:
    """Move the ticket's thread into the other ticket and close it as merged."""
    from . import tickets

    try:
        target = records.get("tickets", data["into"], "update")
    except NotFound:
        raise ValidationError({"into": ["No such ticket."]}) from None
    merged = tickets.merge(records, source, target)
    return ActionResult(
        data=records.entity("tickets").dump_schema.dump(merged),
        target=("tickets", target.id),
        message="Ticket merged; here is the ticket it went into.",
    )


def ticket_actions() -> tuple[RecordAction, ...]:
    return (
        RecordAction(
            name="merge",
            label="Merge",
            handler=_merge,
            schema=MergeInput,
            destructive=True,
            description="Merge this ticket into another: its thread moves, it is closed.",
        ),
    )
