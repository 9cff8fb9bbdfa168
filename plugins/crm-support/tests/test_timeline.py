"""Tickets, their messages and portal activity on the contact's and company's timeline:
internal notes only for readers of ticket messages, tickets only in the reader's scope."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from crm_support.models import PortalAccount
from crm_support.tickets import add_message

from crmcore.db import utcnow

pytestmark = pytest.mark.crm_plugins("support")


def _items(api: Any, url: str, kind: str) -> list[dict[str, Any]]:
    r = api.get(f"{url}/timeline?kind={kind}")
    assert r.status_code == 200, r.get_json()
    return r.get_json()["data"]


@pytest.fixture
def thread(records, make_user, make_contact, make_company):
    """A rep's contact at a company with the rep's ticket (a reply, a customer message and an
    internal note) and another ticket assigned to an agent."""
    rep, agent = make_user("sales_rep"), make_user("support_agent")
    company = make_company(owner_id=rep.id)
    contact = make_contact(owner_id=rep.id, company_id=company.id)
    ticket = records.create(
        "tickets", {"subject": "Printer on fire", "contact_id": contact.id, "assignee_id": rep.id}
    )
    add_message(records, ticket, "We are on it", send_mail=False)
    add_message(
        records, ticket, "Still burning", from_customer=True, author_contact_id=contact.id,
        send_mail=False,
    )  # fmt: skip
    add_message(records, ticket, "Customer is difficult", public=False, send_mail=False)
    hidden = records.create(
        "tickets", {"subject": "Refund request", "contact_id": contact.id, "assignee_id": agent.id}
    )
    add_message(records, hidden, "Refund text", send_mail=False)
    return {"rep": rep, "agent": agent, "contact": contact, "company": company, "ticket": ticket}


def test_agents_see_tickets_messages_and_internal_notes(api_as, thread):
    api = api_as(thread["agent"])
    url = f"/api/v1/contacts/{thread['contact'].id}"
    tickets = _items(api, url, "ticket")
    assert {i["title"].split(": ", 1)[1] for i in tickets} == {"Printer on fire", "Refund request"}
    bodies = {i["summary"]: i for i in _items(api, url, "ticket_message")}
    assert set(bodies) == {"We are on it", "Still burning", "Customer is difficult", "Refund text"}
    assert bodies["Customer is difficult"]["title"].startswith("Internal note on ticket")
    assert bodies["Still burning"]["title"].startswith("Customer wrote on ticket")
    assert bodies["We are on it"]["link"] == f"/tickets/{thread['ticket'].id}"


def test_a_rep_sees_only_their_tickets_public_messages(api_as, thread):
    api = api_as(thread["rep"])
    for url in (
        f"/api/v1/contacts/{thread['contact'].id}",
        f"/api/v1/companies/{thread['company'].id}",  # the company's roll-up too
    ):
        tickets = _items(api, url, "ticket")
        assert [i["id"] for i in tickets] == [thread["ticket"].id], url
        bodies = sorted(i["summary"] for i in _items(api, url, "ticket_message"))
        assert bodies == ["Still burning", "We are on it"], url


def test_a_reader_without_tickets_sees_no_support_kinds(api_as, make_user, make_contact, records):
    marketer = make_user("marketer")
    contact = make_contact()
    records.create("tickets", {"subject": "Hidden", "contact_id": contact.id})
    body = api_as(marketer).get(f"/api/v1/contacts/{contact.id}/timeline").get_json()
    assert not [i for i in body["data"] if i["kind"].startswith("ticket")]
    assert api_as(marketer).get(
        f"/api/v1/contacts/{contact.id}/timeline?kind=ticket"
    ).status_code == 400  # fmt: skip


def test_portal_activity(api, session, make_contact):
    contact = make_contact(email="portal@customer.example")
    session.add(
        PortalAccount(
            contact_id=contact.id,
            email=contact.email,
            invited_at=utcnow() - dt.timedelta(days=2),
            last_login_at=utcnow() - dt.timedelta(hours=1),
        )
    )
    session.commit()
    titles = [i["title"] for i in _items(api, f"/api/v1/contacts/{contact.id}", "portal")]
    assert titles == ["Last signed in to the customer portal", "Invited to the customer portal"]


def test_page_lists_messages_in_spanish(web_as, make_user, thread):
    user = make_user("admin", locale="es")
    html = web_as(user).get(f"/contacts/{thread['contact'].id}").get_data(as_text=True)
    timeline = html.split('id="timeline-list"', 1)[1]
    assert "Nota interna en el ticket" in timeline and "Mensajes de ticket" in html
