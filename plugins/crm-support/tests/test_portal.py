"""The customer portal and the public web form: invitations, sign-in, own tickets only."""

from __future__ import annotations

import re

import pytest
from crm_support.models import PortalAccount, TicketMessage
from support_testing import PORTAL_PASSWORD, csrf_of, eml, form_post, invite_link

pytestmark = pytest.mark.crm_plugins("support")


def test_invitation_sets_a_password_once(app, api, outbox, make_contact, session):
    contact = make_contact(email="pat@customer.example")
    link = invite_link(api, outbox, contact)
    client = app.test_client()
    weak = form_post(client, link, {"password": "short", "confirm": "short"})
    assert weak.status_code == 422
    ok = form_post(client, link, {"password": PORTAL_PASSWORD, "confirm": PORTAL_PASSWORD})
    assert ok.status_code == 303 and ok.headers["Location"] == "/portal/"
    assert client.get("/portal/").status_code == 200
    assert app.test_client().get(link).status_code == 404  # used: the password changed
    assert app.test_client().get(link[:-3] + "abc").status_code == 404  # altered
    account = session.query(PortalAccount).filter_by(contact_id=contact.id).one()
    assert account.password_hash and PORTAL_PASSWORD not in account.password_hash


def test_portal_sign_in_is_separate_from_staff(app, customer, make_user):
    contact, _client = customer("sam@customer.example")
    client = app.test_client()
    bad = form_post(client, "/portal/login", {"email": contact.email, "password": "nope"})
    assert bad.status_code == 401
    good = form_post(client, "/portal/login", {"email": contact.email, "password": PORTAL_PASSWORD})
    assert good.status_code == 303
    assert client.get("/contacts").status_code == 302  # no staff session
    staff = form_post(
        app.test_client(), "/login", {"email": contact.email, "password": PORTAL_PASSWORD}
    )
    assert staff.status_code == 401
    assert (
        client.post(
            "/portal/login", data={"email": contact.email, "password": PORTAL_PASSWORD}
        ).status_code
        == 400
    )


def test_portal_login_is_rate_limited(app, customer):
    contact, _client = customer("rl@customer.example")
    client = app.test_client()
    codes = [
        form_post(client, "/portal/login", {"email": contact.email, "password": "x"}).status_code
        for _ in range(11)
    ]
    assert codes[:10] == [401] * 10 and codes[10] == 429
    right = form_post(
        client, "/portal/login", {"email": contact.email, "password": PORTAL_PASSWORD}
    )
    assert right.status_code == 429


def test_customers_see_only_their_own_tickets(app, api, records, customer, desk):
    alice, alice_web = customer("alice@customer.example")
    bob, _bob_web = customer("bob@customer.example")
    mine = records.create("tickets", {"subject": "Alice's", "contact_id": alice.id})
    theirs = records.create("tickets", {"subject": "Bob's secret", "contact_id": bob.id})
    api.post(f"/api/v1/tickets/{mine.id}/messages", json={"body": "public answer"})
    api.post(
        f"/api/v1/tickets/{mine.id}/messages", json={"body": "internal gossip", "public": False}
    )
    index = alice_web.get("/portal/").get_data(as_text=True)
    assert mine.number in index and theirs.number not in index
    page = alice_web.get(f"/portal/tickets/{mine.id}").get_data(as_text=True)
    assert "public answer" in page and "internal gossip" not in page
    for guess in (theirs.id, theirs.id + 1000, 0):
        assert alice_web.get(f"/portal/tickets/{guess}").status_code == 404
    token = csrf_of(page)
    r = alice_web.post(
        f"/portal/tickets/{theirs.id}/reply", data={"csrf_token": token, "body": "hijack"}
    )
    assert r.status_code == 404
    assert app.test_client().get(f"/portal/tickets/{mine.id}").status_code == 302


def test_attachments_only_from_own_public_messages(
    app, cli, tmp_path, records, customer, desk, session
):
    _carla, carla_web = customer("carla@customer.example")
    _dan, dan_web = customer("dan@customer.example")
    path = tmp_path / "m.eml"
    path.write_bytes(eml("multipart_attachments.eml", uid="p"))
    assert cli("support", "ingest", str(path)).exit_code == 0
    message = session.query(TicketMessage).filter(TicketMessage.attachment_ids != []).one()
    attachment_id = message.attachment_ids[0]
    r = carla_web.get(f"/portal/attachments/{attachment_id}")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/octet-stream"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Content-Disposition"].startswith("attachment;")
    assert dan_web.get(f"/portal/attachments/{attachment_id}").status_code == 404
    assert carla_web.get(f"/portal/attachments/{attachment_id + 999}").status_code == 404


def test_portal_reply_reopens_and_new_request(api, records, customer, session, desk):
    eve, web = customer("eve@customer.example")
    ticket = records.create("tickets", {"subject": "Eve's", "contact_id": eve.id})
    api.post(f"/api/v1/tickets/{ticket.id}/messages", json={"body": "Done?", "status": "pending"})
    page = web.get(f"/portal/tickets/{ticket.id}").get_data(as_text=True)
    r = web.post(
        f"/portal/tickets/{ticket.id}/reply", data={"csrf_token": csrf_of(page), "body": "Not yet"}
    )
    assert r.status_code == 303
    session.refresh(ticket)
    assert ticket.status == "open"
    r = form_post(web, "/portal/new", {"subject": "Another", "description": "Please"})
    assert r.status_code == 303
    assert "Another" in web.get(r.headers["Location"]).get_data(as_text=True)


def test_public_form_creates_a_ticket_honeypot_and_rate_limit(app, session, desk, outbox):
    from crm_support.models import Ticket

    client = app.test_client()
    data = {
        "name": "Web Visitor",
        "email": "visitor@customer.example",
        "subject": "From the form",
        "description": "Help me",
    }
    assert client.get("/support/new").status_code == 200
    assert form_post(client, "/support/new", data).status_code == 202
    assert session.query(Ticket).filter_by(subject="From the form").count() == 0
    [confirm] = outbox.to("visitor@customer.example")
    link = re.search(r"http://[^/]+(/support/new/confirm/\S+)", confirm.get_content()).group(1)
    assert form_post(client, link, {}).status_code == 201
    ticket = session.query(Ticket).filter_by(subject="From the form").one()
    assert ticket.channel == "web"
    assert len(outbox.to("visitor@customer.example")) == 2  # the confirmation, then the ack
    assert (
        form_post(client, "/support/new", {**data, "subject": "Bot", "website": "spam"}).status_code
        == 200
    )
    assert session.query(Ticket).filter_by(subject="Bot").count() == 0
    assert form_post(client, "/support/new", {**data, "email": "nope"}).status_code == 422
    codes = [form_post(client, "/support/new", data).status_code for _ in range(3)]
    assert codes[-1] == 429
    assert client.post("/support/new", data=data).status_code == 400  # CSRF


@pytest.mark.crm_plugins("support", "kb")
def test_new_request_form_suggests_help_articles(customer, records, client):
    records.create(
        "articles",
        {
            "title": "Reset your router",
            "body": "Unplug the router for ten seconds.",
            "status": "published",
            "visibility": "public",
            "language": "en",
        },
    )
    _eve, web = customer("eve@customer.example")
    page = web.get("/portal/new").get_data(as_text=True)
    url = re.search(r'id="kb-suggestions" hx-get="([^"]+)"', page).group(1)
    found = client.get(url.replace("&amp;", "&") + "&subject=router&description=no+internet")
    assert found.status_code == 200 and "Reset your router" in found.get_data(as_text=True)


def test_new_request_form_without_kb_has_no_suggestions(customer):
    _eve, web = customer("eve@customer.example")
    assert "kb-suggestions" not in web.get("/portal/new").get_data(as_text=True)
