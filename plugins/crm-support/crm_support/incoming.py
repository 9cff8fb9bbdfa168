"""Inbound mail: a raw message becomes a new ticket or joins its ticket.

Threading, in order: a Message-ID named in ``In-Reply-To``/``References`` that belongs to a
ticket's message; else a ``[T-000123]`` reference in the subject, accepted only from the
ticket's contact (a reference is guessable, a Message-ID is not). The same Message-ID twice
creates nothing. Automatic mail (auto-replies, bounces, bulk) never gets an acknowledgement,
never reopens a ticket, and never starts one.
"""

from __future__ import annotations

import hashlib
import html
import logging
import re
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import getaddresses, parseaddr
from typing import Any

import nh3
from sqlalchemy import func, select

from crmcore import CRMError
from crmcore.contacts.models import Contact

from . import tickets
from .language import known
from .models import SupportQueue, Ticket, TicketMessage
from .outgoing import one_line

log = logging.getLogger(__name__)

#: Default size limit of one inbound message (``support_max_mail_mb`` in crm.toml).
MAX_MAIL_MB = 10
MAX_ATTACHMENTS = 20
REFERENCE = re.compile(r"\[(T-\d{6,9})\]")
MESSAGE_ID = re.compile(r"<[^<>\s]{1,250}>")
BOUNCE_SENDERS = ("mailer-daemon", "postmaster")


class MailRejected(CRMError):
    """The message cannot become a ticket (too large, malformed); the MTA should bounce it."""

    status = 422
    title = "Mail rejected"


@dataclass
class IngestResult:
    """What happened to one message."""

    action: str  # created, joined, duplicate, ignored
    ticket_id: int | None = None
    message_id: str | None = None
    reason: str = ""


@dataclass
class ParsedMail:
    """The parts of a message the support desk uses."""

    message_id: str
    sender: str
    sender_name: str
    subject: str
    text: str
    html: str | None
    references: list[str]
    recipients: list[str]
    automatic: bool
    attachments: list[tuple[str, bytes]]
    language: str | None = None  # from Content-Language, when the CRM speaks it


def max_bytes(crm: Any) -> int:
    try:
        mb = float(crm.settings.extra.get("support_max_mail_mb", MAX_MAIL_MB))
    except (TypeError, ValueError):
        mb = MAX_MAIL_MB
    return int(mb * 1024 * 1024)


def is_automatic(msg: Message, sender: str) -> bool:
    """Auto-replies, bounces and bulk mail (RFC 3834 and common practice)."""
    auto = str(msg.get("Auto-Submitted", "no")).strip().lower()
    if auto and auto != "no":
        return True
    if msg.get("X-Autoreply") or msg.get("X-Autorespond") or msg.get("X-Auto-Response-Suppress"):
        return True
    if str(msg.get("Precedence", "")).strip().lower() in ("bulk", "auto_reply", "junk", "list"):
        return True
    local = sender.partition("@")[0].lower()
    return local in BOUNCE_SENDERS or str(msg.get("Return-Path", "")).strip() == "<>"


def _text_of_html(markup: str) -> str:
    blocks = re.sub(r"(?i)<\s*(br|/p|/div|/li|/h\d|/tr)\b[^>]*>", "\n", markup)
    text = html.unescape(nh3.clean(blocks, tags=set()))
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _body(msg: EmailMessage) -> tuple[str, str | None]:
    """Plain text (preferred) and the sanitised HTML part, if any."""
    text_part = msg.get_body(preferencelist=("plain",))
    html_part = msg.get_body(preferencelist=("html",))
    clean_html = None
    if html_part is not None:
        try:
            clean_html = nh3.clean(str(html_part.get_content()))
        except (LookupError, UnicodeDecodeError, AssertionError):
            clean_html = None
    if text_part is not None:
        try:
            return str(text_part.get_content()).strip(), clean_html
        except (LookupError, UnicodeDecodeError, AssertionError):
            pass
    return (_text_of_html(clean_html) if clean_html else ""), clean_html


def _ids(*values: Any) -> list[str]:
    found: list[str] = []
    for value in values:
        found += MESSAGE_ID.findall(str(value or ""))
    return list(dict.fromkeys(found))


def parse(raw: bytes, limit: int) -> ParsedMail:
    """Parse and check one raw message; ``MailRejected`` says why it cannot be used."""
    if len(raw) > limit:
        raise MailRejected(f"The message is {len(raw)} bytes; the limit is {limit}.")
    try:
        msg = BytesParser(policy=policy.default).parsebytes(raw)
    except Exception as exc:  # the parser is lenient; anything it raises is a broken message
        raise MailRejected(f"The message cannot be parsed: {exc}") from None
    assert isinstance(msg, EmailMessage)
    try:
        name, sender = parseaddr(str(msg.get("From", "")))
    except Exception:
        name, sender = "", ""
    sender = sender.strip().lower()
    automatic = is_automatic(msg, sender)
    if (not sender or "@" not in sender or len(sender) > 254) and not automatic:
        raise MailRejected("The message has no usable From address.")
    own_ids = _ids(msg.get("Message-ID"))
    message_id = own_ids[0] if own_ids else f"<{hashlib.sha256(raw).hexdigest()}@support.invalid>"
    try:
        text, clean_html = _body(msg)
    except Exception as exc:
        raise MailRejected(f"The message body cannot be read: {exc}") from None
    attachments = []
    for part in msg.iter_attachments():
        if len(attachments) >= MAX_ATTACHMENTS:
            break
        try:
            data = part.get_payload(decode=True) or b""
        except Exception:  # a broken part: keep the rest of the message
            log.warning("an undecodable attachment part was skipped")
            continue
        if data:
            attachments.append((part.get_filename() or "attachment.bin", bytes(data)))
    recipients = [
        a.lower()
        for _n, a in getaddresses(
            [str(v) for h in ("To", "Cc", "Delivered-To") for v in msg.get_all(h, [])]
        )
        if a
    ]
    return ParsedMail(
        message_id=message_id,
        sender=sender,
        sender_name=one_line(name, 100),
        subject=one_line(str(msg.get("Subject", "")), 250) or "(no subject)",
        text=text[:100_000] or "(empty message)",
        html=clean_html,
        references=_ids(msg.get("In-Reply-To"), msg.get("References")),
        recipients=recipients,
        automatic=automatic,
        attachments=attachments,
        language=known(str(msg.get("Content-Language", ""))),
    )


def find_ticket(session: Any, mail: ParsedMail) -> Ticket | None:
    """The ticket this mail answers, by Message-ID first, then by subject reference."""
    if mail.references:
        ticket_id = session.scalar(
            select(TicketMessage.ticket_id)
            .where(TicketMessage.mail_message_id.in_(mail.references))
            .order_by(TicketMessage.id.desc())
            .limit(1)
        )
        if ticket_id is not None:
            return tickets.final_ticket(session, session.get(Ticket, ticket_id))
    match = REFERENCE.search(mail.subject)
    if match:
        ticket = tickets.final_ticket(
            session, session.scalar(select(Ticket).where(Ticket.number == match.group(1)))
        )
        contact = session.get(Contact, ticket.contact_id) if ticket and ticket.contact_id else None
        if contact is not None and (contact.email or "").lower() == mail.sender:
            return ticket
    return None


def queue_for(session: Any, mail: ParsedMail, queue: SupportQueue | None) -> int | None:
    if queue is not None:
        return queue.id
    if mail.recipients:
        found = session.scalar(
            select(SupportQueue.id).where(
                func.lower(SupportQueue.email).in_(mail.recipients),
                SupportQueue.deleted_at.is_(None),
            )
        )
        if found is not None:
            return int(found)
    return None  # the ticket's prepare step falls back to the default queue


def contact_for(records: Any, mail: ParsedMail) -> Any:
    """The contact with the sender's address, created when there is none."""
    contact = records.session.scalar(
        select(Contact)
        .where(func.lower(Contact.email) == mail.sender, Contact.deleted_at.is_(None))
        .order_by(Contact.id)
        .limit(1)
    )
    if contact is not None:
        return contact
    first, _, last = mail.sender_name.rpartition(" ")
    return records.create(
        "contacts",
        {
            "first_name": first,
            "last_name": last or mail.sender.partition("@")[0][:100],
            "email": mail.sender,
            "source": "support e-mail",
            "locale": mail.language,
        },
        commit=False,
    )


def store_attachments(records: Any, ticket: Ticket, mail: ParsedMail) -> list[int]:
    """Keep every attachment, whatever its type: it is only ever served as a download."""
    return tickets.store_files(records, ticket, mail.attachments)


def ingest(crm: Any, raw: bytes, queue: SupportQueue | None = None) -> IngestResult:
    """Turn one raw message into a ticket or a reply on its ticket."""
    mail = parse(raw, max_bytes(crm))
    records = crm.records()
    session = records.session
    exists = session.scalar(
        select(TicketMessage.ticket_id).where(TicketMessage.mail_message_id == mail.message_id)
    )
    if exists is not None:
        return IngestResult("duplicate", exists, mail.message_id, "already received")
    ticket = find_ticket(session, mail)
    if ticket is not None and ticket.status == "closed":
        ticket = None  # a reply to a closed ticket starts a new one
    if ticket is None and mail.automatic:
        log.info("automatic mail %s from %r ignored", mail.message_id, mail.sender)
        return IngestResult("ignored", None, mail.message_id, "automatic mail")
    created = ticket is None
    if ticket is None:
        contact = contact_for(records, mail)
        ticket = records.create(
            "tickets",
            {
                "subject": mail.subject,
                "description": mail.text,
                "channel": "email",
                "contact_id": contact.id,
                "queue_id": queue_for(session, mail, queue),
            },
            commit=False,
        )
    attachment_ids = store_attachments(records, ticket, mail)
    contact = session.get(Contact, ticket.contact_id) if ticket.contact_id else None
    known = contact is not None and (contact.email or "").lower() == mail.sender
    tickets.add_message(
        records,
        ticket,
        mail.text,
        public=True,
        from_customer=True,
        author_contact_id=contact.id if known and contact else None,
        channel="email",
        mail_message_id=mail.message_id,
        mail_from=mail.sender,
        body_html=mail.html,
        automatic=mail.automatic,
        attachment_ids=attachment_ids,
    )
    if created:
        tickets.acknowledge(crm, ticket, [mail.message_id])
    return IngestResult("created" if created else "joined", ticket.id, mail.message_id)
