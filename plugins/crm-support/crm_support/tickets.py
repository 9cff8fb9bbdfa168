"""Working on tickets: the message thread, merging duplicates, acknowledgements."""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.datastructures import FileStorage

from crmcore import Conflict, ValidationError
from crmcore.db import utcnow

from . import outgoing
from .models import SupportQueue, Ticket, TicketMessage

#: Merges followed at most this far (a merged ticket's target may itself be merged).
MAX_MERGE_HOPS = 10


def final_ticket(session: Any, ticket: Ticket | None) -> Ticket | None:
    """Follow ``merged_into_id`` to the ticket that lives on."""
    for _hop in range(MAX_MERGE_HOPS):
        if ticket is None or ticket.merged_into_id is None:
            return ticket
        ticket = session.get(Ticket, ticket.merged_into_id)
    return ticket


def store_files(records: Any, ticket: Ticket, files: Iterable[tuple[str, bytes]]) -> list[int]:
    """Keep files as attachments of ``ticket``, whatever their type: like every attachment they
    are only ever served as downloads (``application/octet-stream``, ``nosniff``, a sandbox)."""
    from crmcore.api.attachments import store

    ids = []
    for filename, data in files:
        upload = FileStorage(stream=io.BytesIO(data), filename=filename)
        ids.append(store(records.crm, records, "ticket", ticket.id, upload, any_type=True).id)
    return ids


def attachments_of(session: Any, thread: Iterable[TicketMessage]) -> dict[int, Any]:
    """The attachment records named by the messages of ``thread``, by id (trash left out)."""
    from crmcore.activities.models import Attachment

    ids = {i for m in thread for i in (m.attachment_ids or ()) if isinstance(i, int)}
    if not ids:
        return {}
    rows = session.scalars(
        select(Attachment).where(Attachment.id.in_(ids), Attachment.deleted_at.is_(None))
    )
    return {a.id: a for a in rows}


def messages(session: Any, ticket_id: int, public_only: bool = False) -> list[TicketMessage]:
    stmt = select(TicketMessage).where(
        TicketMessage.ticket_id == ticket_id, TicketMessage.deleted_at.is_(None)
    )
    if public_only:
        stmt = stmt.where(TicketMessage.public.is_(True))
    return list(session.scalars(stmt.order_by(TicketMessage.created_at, TicketMessage.id)))


def add_message(
    records: Any,
    ticket: Ticket,
    body: str,
    *,
    public: bool = True,
    status: str | None = None,
    from_customer: bool = False,
    author_contact_id: int | None = None,
    channel: str = "api",
    mail_message_id: str | None = None,
    mail_from: str | None = None,
    body_html: str | None = None,
    automatic: bool = False,
    attachment_ids: Iterable[int] = (),
    send_mail: bool = True,
) -> TicketMessage:
    """Add a reply or note to ``ticket`` and move the ticket along; one commit.

    A staff member's first public reply stamps the first response; a staff reply to a new
    ticket opens it; a customer's reply reopens a pending or solved ticket (automatic mail
    never does). A staff public reply is e-mailed to the contact after the commit.
    """
    crm = records.crm
    staff = not from_customer
    if staff and public and mail_message_id is None:
        mail_message_id = outgoing.new_message_id(crm)
    message = records.create(
        "ticket_messages",
        {"ticket_id": ticket.id, "body": body, "public": public},
        commit=False,
        internal={
            "author_contact_id": author_contact_id,
            "channel": channel,
            "mail_message_id": mail_message_id,
            "mail_from": mail_from,
            "body_html": body_html,
            "automatic": automatic,
            "attachment_ids": list(attachment_ids),
        },
    )
    data: dict[str, Any] = {}
    internal: dict[str, Any] = {}
    if status is not None:
        data["status"] = status
    elif staff and public and ticket.status == "new":
        data["status"] = "open"
    elif not staff and not automatic and ticket.status in ("pending", "solved"):
        data["status"] = "open"
    if staff and public and ticket.first_responded_at is None:
        internal["first_responded_at"] = utcnow()
    if data or internal:
        records.update("tickets", ticket, data, internal=internal, commit=False)
    records.commit()
    if staff and public and send_mail:
        outgoing.send_reply(crm, ticket, message)
    return message  # type: ignore[no-any-return]


def merge(records: Any, source: Ticket, target: Ticket) -> Ticket:
    """Move ``source``'s thread into ``target`` and close ``source`` as merged; one commit."""
    if source.id == target.id:
        raise ValidationError({"into": ["A ticket cannot be merged into itself."]})
    if source.merged_into_id is not None:
        raise ValidationError({"into": ["This ticket was already merged."]})
    if target.merged_into_id is not None or target.status == "closed":
        raise ValidationError({"into": ["Merge into an open ticket that was not merged."]})
    if target.contact_id is not None and source.contact_id != target.contact_id:
        # the thread would show in the target contact's portal: another person's mail
        raise Conflict(
            "These tickets belong to different contacts: merging would show one customer's "
            "messages and files to the other. Merge only tickets of the same contact."
        )
    system = records.crm.records(session=records.session)
    for message in messages(records.session, source.id):
        system.update(
            "ticket_messages", message, {}, internal={"ticket_id": target.id}, commit=False
        )
    note = f"Merged {source.number} ({outgoing.one_line(source.subject)}) into this ticket."
    if source.description:
        note += "\n\n" + source.description
    system.create(
        "ticket_messages",
        {"ticket_id": target.id, "body": note, "public": False},
        commit=False,
        internal={"automatic": True},
    )
    tags = list(dict.fromkeys([*(target.tags or []), *(source.tags or [])]))
    if tags != list(target.tags or []):
        records.update("tickets", target, {"tags": tags}, commit=False)
    records.update(
        "tickets",
        source,
        {"status": "closed"},
        internal={"merged_into_id": target.id},
        commit=False,
    )
    system.commit()
    records.commit()
    return target


def split(records: Any, source: Ticket, chosen: list[TicketMessage], subject: str) -> Ticket:
    """A new ticket of ``source``'s contact, company, queue and priority with the ``chosen``
    messages moved to it, and a note on each side; one commit."""
    new = records.create(
        "tickets",
        {
            "subject": subject,
            "contact_id": source.contact_id,
            "company_id": source.company_id,
            "queue_id": source.queue_id,
            "priority": source.priority,
            "status": "open",
            "tags": list(source.tags or []),
        },
        commit=False,
        internal={"channel": source.channel},
    )
    system = records.crm.records(session=records.session)
    for message in chosen:
        system.update("ticket_messages", message, {}, internal={"ticket_id": new.id}, commit=False)
    for ticket, text in (
        (new, f"Split from {source.number} ({outgoing.one_line(source.subject)})."),
        (source, f"{len(chosen)} message(s) moved to {new.number}."),
    ):
        system.create(
            "ticket_messages",
            {"ticket_id": ticket.id, "body": text, "public": False},
            commit=False,
            internal={"automatic": True},
        )
    system.commit()
    records.commit()
    return new  # type: ignore[no-any-return]


def acknowledgement(crm: Any, ticket: Ticket) -> str:
    """The text of the acknowledgement, in the contact's language."""
    queue = crm.session.get(SupportQueue, ticket.queue_id) if ticket.queue_id else None
    with force_locale(outgoing.locale_of(crm, ticket)):
        return (
            "\n\n".join(
                (
                    _("Hello,"),
                    _(
                        "we received your request and gave it the reference %(number)s. Reply to "
                        "this e-mail to add to it; keep the reference in the subject.",
                        number=ticket.number,
                    ),
                    queue.name if queue is not None else _("Support"),
                )
            )
            + "\n"
        )


def acknowledge(crm: Any, ticket: Ticket, references: list[str]) -> bool:
    """Tell the customer their ticket exists (marked as an automatic reply: no loops)."""
    msg = outgoing.build(
        crm, ticket, acknowledgement(crm, ticket), references=references, automatic=True
    )
    return outgoing.deliver(crm, msg)
