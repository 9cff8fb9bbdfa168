"""The public web form: a visitor's request becomes a ticket (channel ``web``) once the
visitor confirmed their address.

The form files nothing by itself: it keeps the request (:class:`~.models.WebRequest`) and
e-mails the address given a signed link that works for
:data:`~.signing.WEB_REQUEST_DAYS` days. Only who reads that mailbox can confirm; then the
ticket is created under the contact with that address (or a new contact). So nobody can
file a ticket - shown in a customer's portal - under someone else's address. The e-mail
carries none of the visitor's text, so the form cannot be used to mail others messages.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from email_validator import EmailNotValidError, validate_email
from flask_babel import force_locale, get_locale
from flask_babel import gettext as _
from sqlalchemy import delete, func, select

from crmcore.contacts.models import Contact
from crmcore.db import utcnow
from crmcore.settings import base_url

from . import signing, tickets
from .language import instance_locale, known
from .models import WebRequest
from .outgoing import deliver


@dataclass
class FormInput:
    """What the form sends; ``website`` is the honeypot."""

    name: str = ""
    email: str = ""
    subject: str = ""
    description: str = ""
    website: str = ""

    @classmethod
    def from_request(cls, form: Any) -> FormInput:
        def get(name: str, limit: int) -> str:
            return str(form.get(name, "")).strip()[:limit]

        return cls(
            get("name", 100),
            get("email", 254),
            get("subject", 250),
            get("description", 20_000),
            get("website", 200),
        )

    def validate(self) -> dict[str, str]:
        errors = {}
        try:
            self.email = validate_email(self.email, check_deliverability=False).normalized
        except EmailNotValidError:
            errors["email"] = _("Enter a valid e-mail address.")
        if not self.subject:
            errors["subject"] = _("Say what it is about.")
        if not self.description:
            errors["description"] = _("Describe your request.")
        return errors


def contact_by_email(records: Any, email: str, name: str, locale: str = "en") -> Any:
    """The contact with this address; a new one speaks the language of the page it wrote on."""
    contact = records.session.scalar(
        select(Contact)
        .where(func.lower(Contact.email) == email.lower(), Contact.deleted_at.is_(None))
        .order_by(Contact.id)
        .limit(1)
    )
    if contact is not None:
        return contact
    first, _sep, last = name.rpartition(" ")
    return records.create(
        "contacts",
        {
            "first_name": first,
            "last_name": last or email.partition("@")[0][:100],
            "email": email,
            "source": "support web form",
            "locale": locale,
        },
        commit=False,
    )


def request_confirmation(crm: Any, form: FormInput) -> WebRequest:
    """Keep the request and e-mail its sender the link that confirms it; nothing is filed
    yet. Requests never confirmed are dropped once their link expired."""
    session = crm.session
    cutoff = utcnow() - dt.timedelta(days=signing.WEB_REQUEST_DAYS)
    session.execute(delete(WebRequest).where(WebRequest.created_at < cutoff))
    locale = known(str(get_locale() or "")) or instance_locale(crm)
    pending = WebRequest(
        email=form.email,
        name=form.name,
        subject=form.subject,
        description=form.description,
        locale=locale,
    )
    session.add(pending)
    session.commit()
    token = signing.dumps(crm, signing.WEB_REQUEST_SALT, {"r": pending.id, "e": pending.email})
    link = f"{base_url(crm)}/support/new/confirm/{token}"
    with force_locale(locale):
        subject = _("Confirm your support request")
        body = "\n\n".join(
            (
                _("Hello,"),
                _(
                    "someone sent us a support request with this e-mail address. To send it "
                    "to our team, confirm it here (the link works for %(days)d days):",
                    days=signing.WEB_REQUEST_DAYS,
                ),
                link,
                _("If it was not you, ignore this e-mail: nothing will be filed."),
            )
        )
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = crm.settings.mail_from
    msg["To"] = pending.email
    msg["Auto-Submitted"] = "auto-generated"
    msg["Content-Language"] = locale
    msg.set_content(body + "\n")
    deliver(crm, msg)
    return pending


def pending_request(crm: Any, token: str) -> WebRequest | None:
    """The request a confirmation link is for, if the link is genuine, fresh and unused."""
    payload = signing.loads(crm, signing.WEB_REQUEST_SALT, token, signing.WEB_REQUEST_DAYS)
    if payload is None or not isinstance(payload.get("r"), int):
        return None
    pending = crm.session.get(WebRequest, payload["r"])
    if pending is None or pending.email != payload.get("e"):
        return None
    return pending  # type: ignore[no-any-return]


def file_request(crm: Any, pending: WebRequest) -> Any:
    """The confirmed request becomes a ticket (as the system) under the contact with its
    address, and is acknowledged by e-mail; the link stops working. ``None`` when another
    click filed it meanwhile."""
    records = crm.records()
    taken = records.session.execute(delete(WebRequest).where(WebRequest.id == pending.id))
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        records.session.rollback()
        return None
    contact = contact_by_email(records, pending.email, pending.name, pending.locale)
    ticket = records.create(
        "tickets",
        {
            "subject": pending.subject,
            "description": pending.description,
            "channel": "web",
            "contact_id": contact.id,
        },
        commit=False,
    )
    records.commit()
    tickets.acknowledge(crm, ticket, [])
    return ticket
