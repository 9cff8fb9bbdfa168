"""Background jobs of the sales plugin (run by ``crm worker`` or the embedded consumer)."""

from __future__ import annotations

from email.message import EmailMessage
from typing import Any

from flask import Flask


def send_quote(
    app: Flask, quote_id: int, to: str, subject: str, body: str, sender_id: int | None = None
) -> str:
    """E-mail quote ``quote_id`` with its PDF attached and log it on the quote's timeline (an
    e-mail activity owned by the sender); returns the Message-ID.

    Enqueued by ``POST /api/v1/quotes/<id>/send`` after the sender's rights were checked, so
    it reads the quote as the system.
    """
    from crmcore import mail

    from .pdf import quote_pdf

    crm = app.extensions["crm"]
    records = crm.records()
    quote: Any = records.get("quotes", quote_id)
    message = EmailMessage()
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    message.add_attachment(
        quote_pdf(app, records, quote),
        maintype="application",
        subtype="pdf",
        filename=f"{quote.number}.pdf",
    )
    mail.send(app, message)
    log_sent(records, quote, to, subject, body, sender_id)
    return str(message["Message-ID"])


def log_sent(
    records: Any, quote: Any, to: str, subject: str, body: str, sender_id: int | None
) -> None:
    """The sent message as an outgoing e-mail activity on the quote (its PDF named)."""
    from crmcore.db import utcnow

    values: dict[str, Any] = {
        "kind": "email",
        "direction": "out",
        "subject": subject[:200],
        "body": f"To: {to}\nAttachment: {quote.number}.pdf\n\n{body}",
        "occurred_at": utcnow().isoformat(),
        "record_type": "quote",
        "record_id": quote.id,
    }
    if sender_id is not None:
        values["owner_id"] = sender_id
    records.create("activities", values)
