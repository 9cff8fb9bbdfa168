"""Merging two contacts (``crm_merge_records``): tickets, the messages the loser wrote and its
portal account move to the kept contact."""

from __future__ import annotations

import pytest
from crm_support.models import PortalAccount, Ticket, TicketMessage
from sqlalchemy import select

pytestmark = pytest.mark.crm_plugins("support")


def _contacts(records):
    keep = records.create("contacts", {"last_name": "Keep", "email": "keep@example.org"})
    gone = records.create("contacts", {"last_name": "Gone", "email": "gone@example.org"})
    return keep, gone


def test_tickets_messages_and_the_portal_account_move(crm, records, api):
    keep, gone = _contacts(records)
    ticket = records.create("tickets", {"subject": "Broken", "contact_id": gone.id})
    message = TicketMessage(ticket_id=ticket.id, body="hola", author_contact_id=gone.id)
    crm.session.add_all([message, PortalAccount(contact_id=gone.id, email="gone@example.org")])
    crm.session.commit()
    r = api.post(f"/api/v1/contacts/{keep.id}/merge", json={"other_id": gone.id})
    assert r.status_code == 200, r.get_json()
    session = crm.session
    session.expire_all()
    assert session.get(Ticket, ticket.id).contact_id == keep.id
    assert session.get(TicketMessage, message.id).author_contact_id == keep.id
    assert session.scalar(select(PortalAccount.contact_id)) == keep.id


def test_a_kept_contacts_own_portal_account_stays(crm, records, api):
    keep, gone = _contacts(records)
    crm.session.add_all(
        [
            PortalAccount(contact_id=keep.id, email="keep@example.org"),
            PortalAccount(contact_id=gone.id, email="gone@example.org"),
        ]
    )
    crm.session.commit()
    r = api.post(f"/api/v1/contacts/{keep.id}/merge", json={"other_id": gone.id})
    assert r.status_code == 200, r.get_json()
    crm.session.expire_all()
    accounts = sorted((a.email, a.contact_id) for a in crm.session.scalars(select(PortalAccount)))
    assert accounts == [("gone@example.org", gone.id), ("keep@example.org", keep.id)]
