"""The support entities and their ``prepare`` steps (numbering, SLA clock, assignment)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crmcore import Entity, PermissionDenied, ValidationError
from crmcore.contacts.models import Company, Contact
from crmcore.db import utcnow
from crmcore.users.models import User

from . import secretbox, sla
from .actions import ticket_actions
from .assignment import pick_assignee
from .models import (
    CannedResponse,
    SlaPolicy,
    SupportQueue,
    Ticket,
    TicketCounter,
    TicketMessage,
)
from .schemas import (
    CannedResponseSchema,
    SlaPolicySchema,
    SupportQueueSchema,
    TicketMessageSchema,
    TicketSchema,
)


def next_number(session: Session) -> str:
    """The next ticket number, ``T-000123`` (a counter row locked while it is raised)."""
    row = session.get(TicketCounter, "ticket", with_for_update=True)
    if row is None:
        row = TicketCounter(name="ticket", value=0)
        session.add(row)
    row.value = (row.value or 0) + 1
    session.flush()
    return f"T-{row.value:06d}"


def _live(session: Session, model: type[Any], record_id: Any) -> Any:
    row = session.get(model, record_id) if record_id is not None else None
    return row if row is not None and getattr(row, "deleted_at", None) is None else None


def default_queue(session: Session) -> SupportQueue | None:
    return session.scalar(
        select(SupportQueue)
        .where(SupportQueue.is_default.is_(True), SupportQueue.deleted_at.is_(None))
        .order_by(SupportQueue.id)
        .limit(1)
    )


def _check_references(session: Session, values: dict[str, Any]) -> None:
    errors: dict[str, list[str]] = {}
    for name, model, message in (
        ("contact_id", Contact, "No such contact."),
        ("company_id", Company, "No such company."),
        ("queue_id", SupportQueue, "No such queue."),
    ):
        if values.get(name) is not None and _live(session, model, values[name]) is None:
            errors[name] = [message]
    if errors:
        raise ValidationError(errors)


def prepare_ticket(values: dict[str, Any], record: Ticket | None, service: Any) -> None:
    """Number new tickets, route them to a queue and assignee, keep the SLA clock."""
    session: Session = service.session
    _check_references(session, values)
    now = utcnow()
    if record is None:
        # the SLA clock starts when the ticket is created: the due times are counted from its
        # ``created_at`` (as after a change of priority), not from a moment just before it
        values["created_at"] = now
        values["number"] = next_number(session)
        values.setdefault("status", "new")
        values.setdefault("priority", "normal")
        values.setdefault("channel", "api")
        contact = _live(session, Contact, values.get("contact_id"))
        if contact is not None and values.get("company_id") is None:
            values["company_id"] = contact.company_id
        if values.get("queue_id") is None:
            queue = default_queue(session)
            values["queue_id"] = queue.id if queue else None
        if values.get("assignee_id") is None and values.get("queue_id") is not None:
            values["assignee_id"] = pick_assignee(
                session, session.get(SupportQueue, values["queue_id"])
            )
        first, resolution = sla.due_times(session, values["priority"], now)
        values["first_response_due_at"], values["resolution_due_at"] = first, resolution
        values["sla_status"] = "ok" if first or resolution else None
        if values["status"] in ("solved", "closed"):
            values["solved_at"] = now
        return
    if "status" in values and values["status"] != record.status:
        sla.on_status_change(session, record, values["status"], values, now)
    if values.get("priority", record.priority) != record.priority and record.solved_at is None:
        first, resolution = sla.due_times(session, values["priority"], record.created_at)
        values["first_response_due_at"], values["resolution_due_at"] = first, resolution


def prepare_message(values: dict[str, Any], record: TicketMessage | None, service: Any) -> None:
    """Messages belong to a live ticket and never move by input."""
    if record is not None:
        values.pop("ticket_id", None)
        return
    if _live(service.session, Ticket, values.get("ticket_id")) is None:
        raise ValidationError({"ticket_id": ["No such ticket."]})


#: The mailbox settings of a queue: changing any of them needs ``support.mailboxes``.
MAILBOX_FIELDS = ("imap_host", "imap_port", "imap_tls", "imap_user", "imap_password", "imap_folder")
#: Where the password is sent: changing any of these forgets the stored password, so that
#: nobody can re-point a queue at a server of theirs and have ``fetch-mail`` log in there.
ENDPOINT_FIELDS = ("imap_host", "imap_port", "imap_tls", "imap_user")
_DEFAULTS: dict[str, Any] = {"imap_tls": True}


def _blank(value: Any) -> Any:
    return None if value == "" else value


def mailbox_changes(values: dict[str, Any], record: SupportQueue | None) -> set[str]:
    """The mailbox settings that ``values`` would change on ``record`` (a new queue: those
    set to something other than the default); TLS, port and folder count only for a queue
    that has, or gets, a server."""
    changed = set()
    for name in MAILBOX_FIELDS:
        if name not in values:
            continue
        new = _blank(values[name])
        old = _blank(getattr(record, name)) if record is not None else _DEFAULTS.get(name)
        if name == "imap_password" and new is not None:
            changed.add(name)  # the stored value is sealed: any new password is a change
        elif new != old:
            changed.add(name)
    host = values["imap_host"] if "imap_host" in values else getattr(record, "imap_host", None)
    if _blank(host) is None:  # no mailbox: the form's TLS box, a port or folder alone reach nothing
        changed -= {"imap_tls", "imap_port", "imap_folder"}
    return changed


def _guard_mailbox(values: dict[str, Any], record: SupportQueue | None, service: Any) -> None:
    changed = mailbox_changes(values, record)
    if changed and not service.access.has("support.mailboxes"):
        raise PermissionDenied("You may not change the mailbox settings of support queues.")
    if record is not None and changed & set(ENDPOINT_FIELDS) and "imap_password" not in changed:
        values["imap_password"] = None


def prepare_queue(values: dict[str, Any], record: SupportQueue | None, service: Any) -> None:
    """Members must be users; one default queue at most; mailbox settings need
    ``support.mailboxes``, a new server or user forgets the password, which is encrypted."""
    session: Session = service.session
    _guard_mailbox(values, record, service)
    if values.get("imap_password"):
        values["imap_password"] = secretbox.seal(service.crm, values["imap_password"])
    members = values.get("member_ids")
    if members is not None:
        members = list(dict.fromkeys(members))
        found = set(session.scalars(select(User.id).where(User.id.in_(members))))
        missing = [m for m in members if m not in found]
        if missing:
            raise ValidationError({"member_ids": [f"No such user: {missing[0]}."]})
        values["member_ids"] = members
    if values.get("is_default"):
        other = default_queue(session)
        if other is not None and (record is None or other.id != record.id):
            raise ValidationError({"is_default": [f"{other.name} is already the default queue."]})


def prepare_policy(values: dict[str, Any], record: SlaPolicy | None, service: Any) -> None:
    """One live policy per priority."""
    priority = values.get("priority")
    if priority is None:
        return
    other = sla.policy_for(service.session, priority)
    if other is not None and (record is None or other.id != record.id):
        raise ValidationError({"priority": ["This priority already has a policy."]})


def prefill_ticket(args: dict[str, str], service: Any) -> dict[str, Any]:
    """A new ticket's form starts open, normal, in the queue the routing rules would pick."""
    values: dict[str, Any] = {"status": "open", "priority": args.get("priority") or "normal"}
    if not args.get("queue_id"):
        queue = default_queue(service.session)
        if queue is not None:
            values["queue_id"] = queue.id
    return values


def prepare_canned(values: dict[str, Any], record: CannedResponse | None, service: Any) -> None:
    """Names are unique (the trash included): the field says so, not the database."""
    name = values.get("name")
    if name is None or (record is not None and name == record.name):
        return
    other = service.session.scalar(select(CannedResponse.id).where(CannedResponse.name == name))
    if other is not None:
        raise ValidationError({"name": ["A canned response has this name already."]})


def entities() -> list[Entity]:
    """Tickets, their messages, queues, SLA policies and canned responses."""
    return [
        Entity(
            name="ticket",
            model=Ticket,
            schema=TicketSchema,
            plural="tickets",
            title="Ticket",
            title_fields=("number", "subject"),
            search_fields=("number", "subject", "description"),
            list_columns=(
                "number",
                "subject",
                "status",
                "priority",
                "sla_status",
                "contact_id",
                "queue_id",
                "assignee_id",
            ),
            filter_fields=("channel", "company_id", "tags", "merged_into_id"),
            sort_fields=("resolution_due_at", "first_response_due_at", "solved_at"),
            owner_field="assignee_id",
            prepare=prepare_ticket,
            prefill=prefill_ticket,
            actions=ticket_actions(),
        ),
        Entity(
            name="ticket_message",
            model=TicketMessage,
            schema=TicketMessageSchema,
            plural="ticket_messages",
            title="Ticket message",
            title_fields=("body",),
            list_columns=("ticket_id", "public", "author_id", "channel"),
            owner_field="author_id",
            prepare=prepare_message,
            api_create=False,
        ),
        Entity(
            name="support_queue",
            model=SupportQueue,
            schema=SupportQueueSchema,
            plural="support_queues",
            title="Support queue",
            list_columns=("name", "email", "assignment", "is_default"),
            owner_field=None,
            prepare=prepare_queue,
        ),
        Entity(
            name="sla_policy",
            model=SlaPolicy,
            schema=SlaPolicySchema,
            plural="sla_policies",
            title="SLA policy",
            title_plural="SLA policies",
            list_columns=("name", "priority", "first_response_minutes", "resolution_minutes"),
            owner_field=None,
            prepare=prepare_policy,
        ),
        Entity(
            name="canned_response",
            model=CannedResponse,
            schema=CannedResponseSchema,
            plural="canned_responses",
            title="Canned response",
            title_fields=("name",),
            search_fields=("name", "body"),
            list_columns=("name", "updated_at"),
            owner_field=None,
            prepare=prepare_canned,
        ),
    ]
