"""Mail to customers: replies with the ticket reference and threading headers, and notices."""

from __future__ import annotations

import logging
import re
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from typing import Any

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select

from crmcore.contacts.models import Contact
from crmcore.mail import send_or_queue

from .models import SupportQueue, Ticket, TicketMessage

log = logging.getLogger(__name__)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
#: How many earlier Message-IDs a reply lists in References.
MAX_REFERENCES = 20


def one_line(text: str, limit: int = 200) -> str:
    """Header-safe text: control characters (CR, LF...) become spaces."""
    return _CONTROL.sub(" ", text or "").strip()[:limit]


def new_message_id(crm: Any) -> str:
    domain = crm.settings.mail_from.rpartition("@")[2] or "localhost"
    return make_msgid(idstring="support", domain=one_line(domain, 100))


def subject_of(ticket: Ticket, prefix: str = "") -> str:
    """``[T-000123] Subject``: the reference lets replies find their ticket."""
    subject = one_line(ticket.subject)
    return f"{prefix}[{ticket.number}] {subject}".strip()


def sender(crm: Any, ticket: Ticket) -> str:
    queue = crm.session.get(SupportQueue, ticket.queue_id) if ticket.queue_id else None
    address = queue.email if queue is not None and queue.email else crm.settings.mail_from
    return formataddr((one_line(queue.name if queue else "Support", 80), address))


def contact_of(crm: Any, ticket: Ticket) -> Contact | None:
    return crm.session.get(Contact, ticket.contact_id) if ticket.contact_id else None


def locale_of(crm: Any, ticket: Ticket) -> str:
    """The language of mail about ``ticket``: its contact's."""
    from .language import contact_locale

    return contact_locale(crm, contact_of(crm, ticket))


def recipient(crm: Any, ticket: Ticket) -> str | None:
    contact = crm.session.get(Contact, ticket.contact_id) if ticket.contact_id else None
    if contact is None or not contact.email:
        return None
    name = one_line(f"{contact.first_name or ''} {contact.last_name or ''}", 100)
    return formataddr((name, contact.email))


def thread_ids(crm: Any, ticket: Ticket, before: int | None = None) -> list[str]:
    stmt = select(TicketMessage.mail_message_id).where(
        TicketMessage.ticket_id == ticket.id, TicketMessage.mail_message_id.is_not(None)
    )
    if before is not None:
        stmt = stmt.where(TicketMessage.id < before)
    return list(crm.session.scalars(stmt.order_by(TicketMessage.id)))


def build(
    crm: Any,
    ticket: Ticket,
    body: str,
    *,
    message_id: str | None = None,
    references: list[str] | None = None,
    automatic: bool = False,
    subject_prefix: str = "",
) -> EmailMessage | None:
    """A message to the ticket's contact, or ``None`` when the contact has no address."""
    to = recipient(crm, ticket)
    if to is None:
        return None
    msg = EmailMessage()
    msg["Subject"] = subject_of(ticket, subject_prefix)
    msg["From"] = sender(crm, ticket)
    msg["To"] = to
    msg["Message-ID"] = message_id or new_message_id(crm)
    refs = (references or [])[-MAX_REFERENCES:]
    if refs:
        msg["In-Reply-To"] = refs[-1]
        msg["References"] = " ".join(refs)
    if automatic:
        msg["Auto-Submitted"] = "auto-replied"
        msg["X-Auto-Response-Suppress"] = "All"
    msg.set_content(body)
    msg["Content-Language"] = locale_of(crm, ticket)  # after set_content, which drops it
    return msg


def deliver(crm: Any, msg: EmailMessage | None) -> bool:
    """Send now; when the server fails, queue it with retries. ``False`` when nothing went."""
    if msg is None:
        return False
    send_or_queue(crm.app, msg)
    return True


def attach_files(crm: Any, msg: EmailMessage, attachment_ids: list[Any]) -> None:
    """Attach the stored files, as ``application/octet-stream`` like every download."""
    from crmcore.activities.models import Attachment
    from crmcore.api.attachments import file_path

    for attachment_id in attachment_ids or ():
        record = crm.session.get(Attachment, attachment_id)
        if record is None or record.deleted_at is not None:
            continue
        path = file_path(crm, record)
        if path.is_file():
            msg.add_attachment(
                path.read_bytes(),
                maintype="application",
                subtype="octet-stream",
                filename=one_line(record.filename, 200),
            )


def send_reply(crm: Any, ticket: Ticket, message: TicketMessage) -> bool:
    """E-mail a public reply to the customer, threaded under the earlier messages, with its
    files attached."""
    with force_locale(locale_of(crm, ticket)):
        footer = _(
            "Reply to this e-mail to answer; keep %(reference)s in the subject.",
            reference=f"[{ticket.number}]",
        )
    msg = build(
        crm,
        ticket,
        f"{message.body}\n\n-- \n{footer}\n",
        message_id=message.mail_message_id,
        references=thread_ids(crm, ticket, before=message.id),
    )
    if msg is not None:
        attach_files(crm, msg, message.attachment_ids)
    return deliver(crm, msg)
