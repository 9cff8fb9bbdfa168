"""The support plugin's part of a person's data (``crm_person_data``).

Tickets count in the queues' figures and SLA reports, so they are kept, detached from the
contact: what the person wrote (the description, their messages, their satisfaction comment,
the attached files) is deleted and their name and address pseudonymised elsewhere. Their
portal account and unconfirmed web requests are deleted.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, or_, select

from .models import Feedback, PortalAccount, TicketMessage, WebRequest


def person_data(person: Any) -> list[Any]:
    from crmcore.privacy import PersonData

    session = person.session
    ids = person.contact_ids
    tickets = person.linked("ticket")
    ticket_ids = [t.id for t in tickets]
    mine = [TicketMessage.ticket_id.in_(ticket_ids)] if ticket_ids else []
    if ids:
        mine.append(TicketMessage.author_contact_id.in_(ids))
    mine.append(func.lower(TicketMessage.mail_from).contains(person.email, autoescape=True))
    messages = list(
        session.scalars(select(TicketMessage).where(or_(*mine)).order_by(TicketMessage.id))
    )
    feedback = (
        list(session.scalars(select(Feedback).where(Feedback.ticket_id.in_(ticket_ids))))
        if ticket_ids
        else []
    )
    accounts = list(
        session.scalars(
            select(PortalAccount).where(
                or_(
                    func.lower(PortalAccount.email) == person.email,
                    PortalAccount.contact_id.in_(ids or [-1]),
                )
            )
        )
    )
    requests = list(
        session.scalars(select(WebRequest).where(func.lower(WebRequest.email) == person.email))
    )

    def erase_tickets() -> None:
        for ticket in tickets:
            ticket.description = None
        person.detach("ticket", tickets)
        attachments = person.attachments("ticket", ticket_ids)
        person.purge("attachment", [a.id for a in attachments])

    def erase_messages() -> None:
        theirs = [
            m
            for m in messages
            if (m.author_contact_id in ids and m.author_contact_id is not None)
            or (m.mail_from or "").lower().find(person.email) >= 0
            or (m.author_id is None and m.public)
        ]
        for message in theirs:
            message.body, message.body_html, message.mail_from = "", None, None
            message.author_contact_id = None
        for message in messages:
            message.attachment_ids = []
        person.detach("ticket_message", messages, field="")

    def erase_feedback() -> None:
        for row in feedback:
            row.comment = ""
        session.flush()

    def erase_accounts() -> None:
        session.execute(delete(PortalAccount).where(PortalAccount.id.in_([a.id for a in accounts])))

    def erase_requests() -> None:
        session.execute(delete(WebRequest).where(WebRequest.id.in_([r.id for r in requests])))

    return [
        PersonData(
            "support.tickets",
            [person.row(t) for t in tickets],
            files=person.files("ticket", ticket_ids),
            erase=erase_tickets,
        ),
        PersonData("support.messages", [person.row(m) for m in messages], erase=erase_messages),
        PersonData("support.feedback", [person.row(f) for f in feedback], erase=erase_feedback),
        PersonData(
            "support.portal_accounts",
            [person.row(a) for a in accounts],
            erase=erase_accounts,
        ),
        PersonData("support.web_requests", [person.row(r) for r in requests], erase=erase_requests),
    ]
