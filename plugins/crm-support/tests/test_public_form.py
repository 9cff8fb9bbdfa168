"""The public form files a ticket only once its sender confirmed the address: nobody can file
a ticket - shown in a customer's portal - under someone else's e-mail address.

The mail goes through a real SMTP server (the test kit's ``smtp_peer``)."""

from __future__ import annotations

import re
import time

import pytest
from crm_support import signing
from crm_support.models import Ticket, WebRequest
from sqlalchemy import func, select
from support_testing import form_post

pytestmark = pytest.mark.crm_plugins("support")

VICTIM = "victim@customer.example"
FORM = {
    "name": "Mallory",
    "email": VICTIM,
    "subject": "Cancel my contract",
    "description": "Written by someone else",
}


def _link(message) -> str:
    found = re.search(r"http://[^/\s]+(/support/new/confirm/\S+)", message.get_content())
    assert found, message.get_content()
    return found.group(1)


def _tickets(session, subject: str = FORM["subject"]) -> list[Ticket]:
    session.expire_all()
    return list(session.scalars(select(Ticket).where(Ticket.subject == subject)))


def test_a_request_under_someone_elses_address_is_not_filed(app, session, desk, customer, request):
    victim, victim_portal = customer(VICTIM)  # invited through the file outbox
    smtp_peer = request.getfixturevalue("smtp_peer")  # from now on mail goes out by SMTP
    attacker = app.test_client()
    r = form_post(attacker, "/support/new", FORM)
    assert r.status_code == 202
    assert "Check your e-mail" in r.get_data(as_text=True)
    assert _tickets(session) == []  # nothing filed...
    assert FORM["subject"] not in victim_portal.get("/portal/").get_data(as_text=True)

    [mail] = smtp_peer.parsed()  # ...only a confirmation, to the address given
    assert mail["To"] == VICTIM and mail["Auto-Submitted"] == "auto-generated"
    assert [m["rcpt_tos"] for m in smtp_peer.messages] == [[VICTIM]]
    body = mail.get_content()
    assert FORM["subject"] not in body and FORM["description"] not in body  # no spam relay
    link = _link(mail)

    # the attacker has no link: guessing or altering one files nothing
    [pending] = session.scalars(select(WebRequest))
    forged = signing.dumps(app.extensions["crm"], "another-salt", {"r": pending.id, "e": VICTIM})
    for bad in (link[:-4] + "AAAA", f"/support/new/confirm/{forged}", "/support/new/confirm/x"):
        assert attacker.get(bad).status_code == 404
        assert form_post(attacker, bad, {}, from_page="/support/new").status_code == 404
    assert _tickets(session) == []

    # the owner of the mailbox confirms: only then the ticket exists, in their portal
    page = victim_portal.get(link)
    assert page.status_code == 200 and "Confirm your request" in page.get_data(as_text=True)
    assert _tickets(session) == []  # opening the link (a link checker) files nothing
    assert form_post(victim_portal, link, {}).status_code == 201
    [ticket] = _tickets(session)
    assert ticket.contact_id == victim.id and ticket.channel == "web"
    assert FORM["subject"] in victim_portal.get("/portal/").get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(WebRequest)) == 0
    # the link works once
    assert form_post(victim_portal, link, {}, from_page="/support/new").status_code == 404
    assert len(_tickets(session)) == 1


def test_a_new_address_gets_a_contact_only_when_confirmed(app, session, desk, smtp_peer):
    from crmcore.contacts.models import Contact

    client = app.test_client()
    data = {**FORM, "email": "new.person@example.org", "subject": "First contact"}
    assert form_post(client, "/support/new", data).status_code == 202
    exists = select(Contact).where(Contact.email == "new.person@example.org")
    assert session.scalars(exists).first() is None
    [mail] = smtp_peer.parsed()
    assert form_post(client, _link(mail), {}).status_code == 201
    [ticket] = _tickets(session, "First contact")
    contact = session.scalars(exists).one()
    assert ticket.contact_id == contact.id


def test_an_expired_link_files_nothing(app, crm, session, desk, smtp_peer, monkeypatch):
    client = app.test_client()
    assert form_post(client, "/support/new", FORM).status_code == 202
    [pending] = session.scalars(select(WebRequest))
    days = signing.WEB_REQUEST_DAYS
    then = time.time() - days * 86400 - 60
    monkeypatch.setattr("itsdangerous.timed.time.time", lambda: then)
    old = signing.dumps(crm, signing.WEB_REQUEST_SALT, {"r": pending.id, "e": pending.email})
    monkeypatch.undo()
    url = f"/support/new/confirm/{old}"
    r = client.get(url)
    assert r.status_code == 404 and "already used or has expired" in r.get_data(as_text=True)
    assert form_post(client, url, {}, from_page="/support/new").status_code == 404
    assert _tickets(session) == []
