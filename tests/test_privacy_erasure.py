"""Erasure of one person (GDPR article 17): ``crm people erase``, the contact's "erase" action
and ``POST /api/v1/people/erase``, with every first-party plugin taking part through
``crm_person_data``; then every table of the database is searched for the person."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from privacy_kit import EMAIL, NEEDLES, find_everywhere, touch_every_module
from sqlalchemy import func, select

from crmcore.audit import AuditEntry
from crmcore.contacts.models import Contact
from crmcore.mail.outbox import outbox_path
from crmcore.privacy import was_erased

pytestmark = pytest.mark.crm_plugins("sales", "support", "marketing", "kb")


def test_erasing_a_person_leaves_nothing_of_them_anywhere(crm, records, api, admin, cli):
    from crm_marketing.models import Recipient
    from crm_support.models import Ticket

    def stored():
        return {p for p in crm.settings.attachments_path.rglob("*") if p.is_file()}

    earlier = stored()  # the instance folder outlives each test's database
    made = touch_every_module(crm, records, api, admin)
    assert find_everywhere(crm, NEEDLES)  # the scan does see them before
    assert len(stored() - earlier) == 2

    result = cli("people", "erase", EMAIL.upper(), "--yes")
    assert result.exit_code == 0, result.output
    crm.session.expire_all()

    hits = find_everywhere(crm, NEEDLES)
    assert hits == [], "\n".join(hits)
    session = crm.session
    # the person's own records are gone for good, trash included
    assert session.get(Contact, made["contact"].id) is None
    assert session.get(type(made["lead"]), made["lead"].id) is None
    assert stored() == earlier
    # aggregates stay right: the deal, order, quote, ticket and send are kept, detached
    deal = session.get(type(made["deal"]), made["deal"].id)
    assert deal.amount == Decimal("1500.00") and deal.contact_id is None
    order = session.get(type(made["order"]), made["order"].id)
    assert order.total == made["order"].total and order.total > 0 and order.contact_id is None
    assert session.scalar(select(func.count()).select_from(Ticket)) == 1
    recipient = session.scalar(select(Recipient))
    assert recipient.status == "sent" and recipient.email is None
    # other people are untouched; the company stays (it is not the person)
    assert session.get(Contact, made["other"].id).email == "ana@example.org"
    assert session.get(type(made["company"]), made["company"].id) is not None
    left = [p.read_text() for p in outbox_path(crm.settings.instance_path).glob("*.eml")]
    assert any("ana@example.org" in text for text in left)
    # the minimal erasure record: when, by whom (the CLI: nobody), a keyed hash
    entry = session.scalar(
        select(AuditEntry).where(AuditEntry.entity == "person", AuditEntry.action == "erase")
    )
    assert entry is not None and entry.user_id is None
    assert EMAIL not in str(entry.changes) and len(entry.changes["email_hash"][1]) == 64
    assert was_erased(crm, session, EMAIL) and not was_erased(crm, session, "ana@example.org")
    # search finds nothing of them any more
    r = api.get("/api/v1/search?q=Quintanilla")
    assert r.get_json()["data"] == []


def test_unknown_address_says_so_and_changes_nothing(crm, records, cli, make_contact):
    make_contact(email="someone@example.org")
    before = crm.session.scalar(select(func.count()).select_from(AuditEntry))
    result = cli("people", "erase", "nobody@example.org", "--yes")
    assert result.exit_code == 1
    assert "Nothing is held about nobody@example.org" in result.output
    assert crm.session.scalar(select(func.count()).select_from(AuditEntry)) == before
    bad = cli("people", "erase", "not-an-address", "--yes")
    assert bad.exit_code == 1 and "e-mail" in bad.output


def test_the_command_asks_first(crm, cli, make_contact):
    contact = make_contact(email="asked@example.org")
    result = cli("people", "erase", "asked@example.org", input="n\n")
    assert result.exit_code == 1 and "Aborted" in result.output
    crm.session.expire_all()
    assert crm.session.get(Contact, contact.id) is not None
    result = cli("people", "erase", "asked@example.org", input="y\n")
    assert result.exit_code == 0, result.output
    assert crm.session.get(Contact, contact.id) is None


def test_api_erasure_needs_the_permission_and_a_matching_confirmation(
    crm, api, api_as, make_user, make_contact
):
    contact = make_contact(email="api.person@example.org")
    body = {"email": "api.person@example.org", "confirm": "api.person@example.org"}
    for role in ("manager", "sales_rep"):
        r = api_as(make_user(role)).post("/api/v1/people/erase", json=body)
        assert r.status_code == 403
    r = api.post("/api/v1/people/erase", json={**body, "confirm": "other@example.org"})
    assert r.status_code == 422 and "confirm" in str(r.get_json())
    r = api.post("/api/v1/people/erase", json={"email": "x"})
    assert r.status_code == 422
    r = api.post(
        "/api/v1/people/erase",
        json={"email": "nobody@example.org", "confirm": "nobody@example.org"},
    )
    assert r.status_code == 404
    crm.session.expire_all()
    assert crm.session.get(Contact, contact.id) is not None
    r = api.post("/api/v1/people/erase", json=body)
    assert r.status_code == 200 and r.get_json()["erased"] is True
    crm.session.expire_all()
    assert crm.session.get(Contact, contact.id) is None


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def test_contact_page_erase_action(crm, web, web_as, make_user, make_contact):
    contact = make_contact(email="page.person@example.org")
    url = f"/contacts/{contact.id}/actions/erase"
    # a manager sees no button and may not run it
    manager = web_as(make_user("manager"))
    their_page = manager.get(f"/contacts/{contact.id}").get_data(True)
    assert "Erase personal data" not in their_page and "Export personal data" not in their_page
    theirs = csrf_of(their_page)
    refused = manager.post(url, data={"csrf_token": theirs, "confirm": "page.person@example.org"})
    assert refused.status_code == 403
    page = web.get(f"/contacts/{contact.id}").get_data(True)
    assert "Erase personal data" in page and "Export personal data" in page
    token = csrf_of(page)
    # without the CSRF token, or with a forged one, nothing happens
    for forged in ({}, {"csrf_token": "forged"}):
        bare = web.post(url, data={**forged, "confirm": "page.person@example.org"})
        assert bare.status_code == 400
    wrong = web.post(url, data={"csrf_token": token, "confirm": "someone.else@example.org"})
    assert wrong.status_code == 422
    crm.session.expire_all()
    assert crm.session.get(Contact, contact.id) is not None
    done = web.post(url, data={"csrf_token": token, "confirm": "page.person@example.org"})
    assert done.status_code == 303 and done.headers["Location"].endswith("/contacts")
    crm.session.expire_all()
    assert crm.session.get(Contact, contact.id) is None
    # the action's own audit row does not keep the address typed to confirm
    assert find_everywhere(crm, ("page.person@example.org",)) == []


def test_a_disabled_plugin_rows_are_erased_too(crm, records, cli):
    from crm_support.models import WebRequest

    from crmcore.instance import disable_plugin

    crm.session.add(
        WebRequest(email="quiet@example.org", name="Quiet Person", subject="s", description="d")
    )
    crm.session.commit()
    disable_plugin(crm, "support")
    crm.forget_enabled()
    result = cli("people", "erase", "quiet@example.org", "--yes")
    assert result.exit_code == 0, result.output
    assert crm.session.scalar(select(func.count()).select_from(WebRequest)) == 0


def test_a_reimport_of_an_erased_person_is_flagged(crm, records, cli, make_contact, tmp_path):
    make_contact(first_name="Olga", email="olga@example.org")
    assert cli("people", "erase", "OLGA@example.org", "--yes").exit_code == 0
    csv = tmp_path / "people.csv"
    csv.write_text("first_name,email\nOlga,olga@example.org\nPere,pere@example.org\n")
    result = cli("import", "contacts", str(csv))
    assert result.exit_code == 0, result.output
    assert "possible duplicates: 1" in result.output
    assert "line 2:" in result.output and "whose data was erased" in result.output
    assert "line 3:" not in result.output  # nobody erased Pere
