"""Satisfaction surveys: a signed link e-mailed when a ticket is solved, one answer per ticket."""

from __future__ import annotations

from typing import Any

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from crmcore.settings import base_url

from . import signing
from .models import Feedback, Ticket
from .outgoing import build, deliver, locale_of


def token_for(crm: Any, ticket: Ticket) -> str:
    return signing.dumps(crm, signing.FEEDBACK_SALT, {"t": ticket.id, "n": ticket.number})


def ticket_for(crm: Any, token: str) -> Ticket | None:
    """The ticket a survey link is for; ``None`` for forged, altered or expired links."""
    payload = signing.loads(crm, signing.FEEDBACK_SALT, token, signing.FEEDBACK_DAYS)
    if payload is None:
        return None
    ticket = crm.session.get(Ticket, payload.get("t"))
    if ticket is None or ticket.deleted_at is not None or ticket.number != payload.get("n"):
        return None
    return ticket


def send_survey(crm: Any, ticket: Ticket) -> bool:
    """E-mail the survey link, in the contact's language."""
    link = f"{base_url(crm)}/support/feedback/{token_for(crm, ticket)}"
    with force_locale(locale_of(crm, ticket)):
        body = "\n\n".join(
            (
                _("Hello,"),
                _(
                    "your request %(number)s was solved. How did we do? Rate us from 1 to 5 "
                    "here (the link works for %(days)d days):",
                    number=ticket.number,
                    days=signing.FEEDBACK_DAYS,
                ),
                link,
                _("If something is still wrong, simply reply to this e-mail."),
            )
        )
    return deliver(crm, build(crm, ticket, body + "\n", automatic=True))


def answered(session: Any, ticket_id: int) -> bool:
    return session.scalar(select(Feedback.id).where(Feedback.ticket_id == ticket_id)) is not None


def record_answer(session: Any, ticket: Ticket, rating: int, comment: str) -> bool:
    """Store the answer; ``False`` when the ticket already has one (the first answer stays)."""
    if answered(session, ticket.id):
        return False
    session.add(Feedback(ticket_id=ticket.id, rating=rating, comment=comment[:5000]))
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        return False
    return True
