"""The public web form: a visitor's request becomes a ticket (channel ``web``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from email_validator import EmailNotValidError, validate_email
from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy import func, select

from crmcore.contacts.models import Contact

from . import tickets
from .language import instance_locale, known


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


def submit_ticket(crm: Any, form: FormInput) -> Any:
    """Create the ticket (as the system) and acknowledge it by e-mail."""
    records = crm.records()
    locale = known(str(get_locale() or "")) or instance_locale(crm)
    contact = contact_by_email(records, form.email, form.name, locale)
    ticket = records.create(
        "tickets",
        {
            "subject": form.subject,
            "description": form.description,
            "channel": "web",
            "contact_id": contact.id,
        },
    )
    tickets.acknowledge(crm, ticket, [])
    return ticket
