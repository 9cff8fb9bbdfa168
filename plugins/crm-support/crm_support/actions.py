"""The record actions of support: merge a ticket into another (``POST
/api/v1/tickets/<id>/merge``), with its button and dialog on the ticket's page; invite a
contact to the customer portal (``POST /api/v1/contacts/<id>/portal_invite``), a button on
the contact's page."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

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


class SplitInput(Schema):
    """Body of ``POST /api/v1/tickets/<id>/split``."""

    messages = fields.String(
        required=True,
        validate=validate.Length(1, 200),
        metadata={"label": "Messages to move (their numbers, such as 2, 4-5)"},
    )
    subject = fields.String(
        required=True,
        validate=validate.Length(1, 250),
        metadata={"label": "Subject of the new ticket"},
    )


BAD_NUMBERS = "Give the numbers of messages in this conversation, such as 2, 4-5."


def message_numbers(text: str, count: int) -> list[int]:
    """The 1-based positions named by ``"2, 4-5"`` among ``count`` messages, in order; a
    ValidationError on ``messages`` for anything else."""
    chosen: set[int] = set()
    for part in text.replace(" ", "").split(","):
        if not part:
            continue
        first, dash, last = part.partition("-")
        if not first.isdigit() or (dash and not last.isdigit()) or len(part) > 11:
            raise ValidationError({"messages": [BAD_NUMBERS]})
        low, high = int(first), int(last) if dash else int(first)
        if not 1 <= low <= high <= count:
            raise ValidationError({"messages": [BAD_NUMBERS]})
        chosen.update(range(low, high + 1))
    if not chosen:
        raise ValidationError({"messages": [BAD_NUMBERS]})
    if len(chosen) == count:
        raise ValidationError({"messages": ["Leave at least one message on this ticket."]})
    return sorted(chosen)


def _not_merged(ticket: Any) -> str | None:
    return "A merged ticket cannot be split." if ticket.merged_into_id is not None else None


def _split(records: Any, source: Any, data: dict[str, Any]) -> ActionResult:
    """Move the chosen messages to a new ticket of the same customer and queue."""
    from . import tickets

    thread = tickets.messages(records.session, source.id)
    chosen = [thread[n - 1] for n in message_numbers(data["messages"], len(thread))]
    new = tickets.split(records, source, chosen, data["subject"])
    return ActionResult(
        data=records.entity("tickets").dump_schema.dump(new),
        status=201,
        target=("tickets", new.id),
        message="Messages moved to the new ticket %(number)s.",
        message_args={"number": new.number},
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
        RecordAction(
            name="split",
            label="Split",
            handler=_split,
            schema=SplitInput,
            applies=_not_merged,
            status=201,
            description="Move some messages of this conversation to a new ticket.",
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
