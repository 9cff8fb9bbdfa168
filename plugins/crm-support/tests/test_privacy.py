"""The support part of a person's data (``crm_person_data``): tickets kept for the figures but
emptied of what the person wrote; portal account and web requests deleted."""

from __future__ import annotations

import pytest
from crm_support.models import PortalAccount, Ticket, TicketMessage, WebRequest
from sqlalchemy import func, select

pytestmark = pytest.mark.crm_plugins("support")


def test_tickets_are_kept_without_the_person(crm, records, cli):
    contact = records.create(
        "contacts", {"first_name": "Iker", "last_name": "Zubiri", "email": "iker@example.org"}
    )
    ticket = records.create(
        "tickets",
        {
            "subject": "Broken, Iker Zubiri",
            "description": "My DNI is 1234",
            "contact_id": contact.id,
        },
    )
    records.create("ticket_messages", {"ticket_id": ticket.id, "body": "Hola Iker Zubiri"})
    crm.session.add(PortalAccount(contact_id=contact.id, email="iker@example.org"))
    crm.session.add(WebRequest(email="iker@example.org", subject="s", description="d"))
    crm.session.commit()
    result = cli("people", "erase", "iker@example.org", "--yes")
    assert result.exit_code == 0, result.output
    assert "support.tickets: 1" in result.output and "support.portal_accounts: 1" in result.output
    session = crm.session
    session.expire_all()
    kept = session.get(Ticket, ticket.id)
    assert kept.contact_id is None and kept.description is None
    assert "Zubiri" not in kept.subject and kept.number
    message = session.scalar(select(TicketMessage).where(TicketMessage.ticket_id == ticket.id))
    assert "Zubiri" not in message.body
    assert session.scalar(select(func.count()).select_from(PortalAccount)) == 0
    assert session.scalar(select(func.count()).select_from(WebRequest)) == 0
