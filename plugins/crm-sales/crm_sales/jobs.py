"""Background jobs of the sales plugin (run by ``crm worker`` or the embedded consumer)."""

from __future__ import annotations

from email.message import EmailMessage
from typing import Any

from flask import Flask


def send_quote(app: Flask, quote_id: int, to: str, subject: str, body: str) -> str:
    """E-mail quote ``quote_id`` with its PDF attached; returns the Message-ID.

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
    return str(message["Message-ID"])
