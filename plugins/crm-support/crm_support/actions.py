"""The record actions of support: merge a ticket into another (``POST
/api/v1/tickets/<id>/merge``), with its button and dialog on the ticket's page; invite a
contact to the customer portal (``POST /api/v1/contacts/<id>/portal_invite``), a button on
the contact's page."""

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


def _no_email(contact: Any) -> str | None:
    return None if contact.email else "The contact has no e-mail address."


def _invite(records: Any, contact: Any, data: dict[str, Any]) -> ActionResult:
    """E-mail the contact a link to set their portal password (in their language)."""
    from . import portal_accounts

    account = portal_accounts.invite(records.crm, contact)
    return ActionResult(
        data={"id": account.id, "contact_id": contact.id, "email": account.email},
        message="Portal invitation sent to %(email)s.",
        message_args={"email": account.email},
    )


def contact_actions() -> tuple[RecordAction, ...]:
    """Actions support adds to the core's contacts."""
    return (
        RecordAction(
            name="portal_invite",
            label="Invite to portal",
            handler=_invite,
            permission="support.portal_invite",
            applies=_no_email,
            entity="contacts",
            description="E-mail the contact a link to the customer portal (a new link each time).",
        ),
    )
