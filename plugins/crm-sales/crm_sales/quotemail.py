"""Who a quote may be e-mailed to, and how often: ``POST /api/v1/quotes/<id>/send``.

A quote goes to its contact, or to the address of another contact the sender may read; never
to any address typed in, so the endpoint cannot mail arbitrary text to strangers. Each user
may send :data:`DEFAULT_RATE` quotes (``[sales] quote_send_rate`` in the instance settings
changes it), counted on the app's rate-limit storage (memory, or Redis when set).
"""

from __future__ import annotations

from typing import Any

from limits import parse_many
from sqlalchemy import func

from crmcore import CRMError, ValidationError

DEFAULT_RATE = "20 per hour;100 per day"


class TooManyQuoteMails(CRMError):
    """The sender used up their quota of quote e-mails for now (429)."""

    status = 429
    title = "Too many requests"


def recipient(records: Any, quote: Any, to: str | None) -> str:
    """The address to send ``quote`` to: its contact's by default; ``to`` only when it is the
    address of a contact the sender may read. :class:`ValidationError` on ``to`` otherwise."""
    contacts = records.entity("contacts").model
    contact = records.session.get(contacts, quote.contact_id) if quote.contact_id else None
    own = contact.email if contact is not None and contact.deleted_at is None else None
    if not to:
        if not own:
            raise ValidationError({"to": ["The quote's contact has no e-mail; give one."]})
        return str(own)
    if own and to.lower() == own.lower():
        return str(own)
    if records.access.can("contacts", "read"):
        match = records.session.scalars(
            records.query("contacts").where(func.lower(contacts.email) == to.lower()).limit(1)
        ).first()
        if match is not None:
            return str(match.email)
    raise ValidationError(
        {"to": ["Send the quote to its contact or to another contact you may read."]}
    )


def _rate(crm: Any) -> str:
    section = crm.settings.extra.get("sales") or {}
    value = section.get("quote_send_rate") if isinstance(section, dict) else None
    return str(value or DEFAULT_RATE)


def count_send(crm: Any, user_id: int | None) -> None:
    """Count one quote e-mail against the sender's quota; :class:`TooManyQuoteMails` when
    it is used up (nothing is counted for the system, which has no user)."""
    if user_id is None:
        return
    limiter = crm.limiter.limiter
    for item in parse_many(_rate(crm)):
        if not limiter.hit(item, "sales", "quote-send", str(user_id)):
            raise TooManyQuoteMails("You sent too many quotes by e-mail for now; try again later.")
