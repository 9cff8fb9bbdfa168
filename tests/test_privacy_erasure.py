"""Erasure of one person (GDPR article 17): ``crm people erase``, the contact's "erase" action
and ``POST /api/v1/people/erase``, with every first-party plugin taking part through
``crm_person_data``; then every table of the database is searched for the person."""

from __future__ import annotations

import io
import re
from decimal import Decimal
from email.message import EmailMessage
from typing import Any

import pytest
from sqlalchemy import JSON, LargeBinary, MetaData, String, Text, func, select

from crmcore.audit import AuditEntry
from crmcore.contacts.models import Contact
from crmcore.mail.outbox import outbox_path, write_to_outbox
from crmcore.notifications import Notification
from crmcore.privacy import was_erased

pytestmark = pytest.mark.crm_plugins("sales", "support", "marketing", "kb")

EMAIL = "zebedeo.quintanilla@example.org"
FIRST, LAST = "Zebedeo", "Quintanilla"
PHONE = "+34 611 222 333"
MOBILE = "+34 622 444 555"
NEEDLES = (EMAIL, f"{FIRST} {LAST}", PHONE, MOBILE, "611222333", "quintanilla")


def upload(api: Any, url: str, content: bytes, filename: str) -> Any:
    return api.post(
        url,
        data={"file": (io.BytesIO(content), filename)},
        content_type="multipart/form-data",
    )


def touch_every_module(crm: Any, records: Any, api: Any, admin: Any) -> dict[str, Any]:
    """A person who left traces in the core and in every first-party plugin."""
    from crm_kb.models import KbSearch
    from crm_marketing.models import Bounce, CampaignEvent, Recipient, SegmentMember
    from crm_support.models import Feedback, PortalAccount, WebRequest

    session = crm.session
    company = records.create("companies", {"name": "Hermanos Cuenca SL", "domain": "hc.es"})
    contact = records.create(
        "contacts",
        {
            "first_name": FIRST,
            "last_name": LAST,
            "email": EMAIL,
            "phone": PHONE,
            "mobile": MOBILE,
            "company_id": company.id,
            "city": "Cuenca",
            "description": f"Prefers calls to {PHONE}",
        },
    )
    other = records.create(
        "contacts", {"first_name": "Ana", "last_name": "Otero", "email": "ana@example.org"}
    )
    records.create(
        "notes", {"record_type": "contacts", "record_id": contact.id, "body": "Met in Madrid"}
    )
    records.create(
        "notes",
        {
            "record_type": "companies",
            "record_id": company.id,
            "body": f"Spoke with {FIRST} {LAST} ({EMAIL}) about the renewal",
        },
    )
    records.create(
        "activities",
        {
            "record_type": "contacts",
            "record_id": contact.id,
            "kind": "call",
            "subject": f"Call with {FIRST} {LAST}",
            "occurred_at": "2026-01-10T10:00:00Z",
        },
    )
    records.create(
        "tasks",
        {"title": f"Send the offer to {EMAIL}", "record_type": "contacts", "record_id": contact.id},
    )
    r = upload(api, f"/api/v1/contacts/{contact.id}/attachments", b"ID card scan", "dni.txt")
    assert r.status_code == 201, r.get_json()
    lead = records.create(
        "leads", {"first_name": FIRST, "last_name": LAST, "email": EMAIL, "phone": PHONE}
    )
    deal = records.create(
        "deals",
        {"title": f"Renewal {FIRST} {LAST}", "amount": "1500.00", "contact_id": contact.id},
    )
    order = records.create(
        "orders",
        {
            "contact_id": contact.id,
            "status": "paid",
            "notes": f"Ship to {FIRST} {LAST}",
            "lines": [{"description": "Plan", "quantity": "2", "unit_price": "250.00"}],
        },
    )
    quote = records.create(
        "quotes", {"contact_id": contact.id, "title": f"Offer for {LAST}", "lines": []}
    )
    ticket = records.create(
        "tickets",
        {
            "subject": f"Invoice for {EMAIL}",
            "description": f"Call me at {PHONE}",
            "contact_id": contact.id,
        },
    )
    r = upload(api, f"/api/v1/tickets/{ticket.id}/attachments", b"invoice copy", "factura.txt")
    assert r.status_code == 201, r.get_json()
    records.create(
        "ticket_messages",
        {"ticket_id": ticket.id, "body": f"Hello {FIRST}, we are on it", "public": True},
    )
    session.add(PortalAccount(contact_id=contact.id, email=EMAIL, password_hash="x"))
    session.add(Feedback(ticket_id=ticket.id, rating=2, comment=f"Slow. {FIRST} {LAST}"))
    session.add(WebRequest(email=EMAIL, name=f"{FIRST} {LAST}", subject="Help", description="?"))
    campaign = records.create("campaigns", {"name": "Spring"})
    recipient = Recipient(
        campaign_id=campaign.id,
        contact_id=contact.id,
        email=EMAIL,
        status="sent",
        message_id="<m1@example.org>",
    )
    session.add(recipient)
    session.flush()
    session.add(
        CampaignEvent(
            campaign_id=campaign.id,
            recipient_id=recipient.id,
            kind="open",
            detail=f"opened by {EMAIL}",
        )
    )
    segment = records.create("segments", {"name": "VIP", "kind": "static"})
    session.add(SegmentMember(segment_id=segment.id, contact_id=contact.id))
    session.add(Bounce(email=EMAIL.upper(), kind="soft"))
    session.add(KbSearch(query=f"{FIRST} {LAST} invoice", terms="zebedeo quintanilla invoice"))
    session.add(
        Notification(user_id=admin.id, kind="mention", title=f"{FIRST} {LAST} wrote", body=EMAIL)
    )
    session.commit()
    message = EmailMessage()
    message["To"] = EMAIL
    message["Subject"] = "Your invoice"
    message.set_content(f"Dear {FIRST} {LAST}")
    write_to_outbox(outbox_path(crm.settings.instance_path), message)
    keep = EmailMessage()
    keep["To"] = "ana@example.org"
    keep.set_content("Dear Ana")
    write_to_outbox(outbox_path(crm.settings.instance_path), keep)
    return {
        "contact": contact,
        "other": other,
        "company": company,
        "lead": lead,
        "deal": deal,
        "order": order,
        "quote": quote,
        "ticket": ticket,
        "campaign": campaign,
    }


def find_everywhere(crm: Any, needles: tuple[str, ...]) -> list[str]:
    """Every table of the database, reflected, scanned in its text, JSON and binary columns."""
    session = crm.session
    metadata = MetaData()
    metadata.reflect(bind=session.connection())
    lowered = [n.lower() for n in needles]
    hits = []
    for table in metadata.sorted_tables:
        columns = [
            c
            for c in table.columns
            if isinstance(c.type, String | Text | JSON | LargeBinary)
            or type(c.type).__name__.upper() in ("JSONB", "BYTEA", "BLOB", "TSVECTOR")
        ]
        if not columns:
            continue
        for row in session.execute(select(*columns)):
            for column, value in zip(columns, row, strict=True):
                if value is None:
                    continue
                if isinstance(value, bytes | memoryview):
                    text = bytes(value).decode("latin-1")
                else:
                    text = str(value)
                text = text.lower()
                for needle in lowered:
                    if needle in text or needle.replace(" ", "") in text.replace(" ", ""):
                        hits.append(f"{table.name}.{column.name}: {needle}")
    for path in crm.settings.instance_path.rglob("*"):
        if path.is_file() and "outbox" in path.parts:
            text = path.read_bytes().decode("latin-1").lower()
            hits += [f"{path.name}: {n}" for n in lowered if n in text]
    return hits


def test_erasing_a_person_leaves_nothing_of_them_anywhere(crm, records, api, admin, cli):
    from crm_marketing.models import Recipient
    from crm_support.models import Ticket

    made = touch_every_module(crm, records, api, admin)
    assert find_everywhere(crm, NEEDLES)  # the scan does see them before
    stored = {p for p in crm.settings.attachments_path.rglob("*") if p.is_file()}
    assert len(stored) == 2

    result = cli("people", "erase", EMAIL.upper(), "--yes")
    assert result.exit_code == 0, result.output
    crm.session.expire_all()

    hits = find_everywhere(crm, NEEDLES)
    assert hits == [], "\n".join(hits)
    session = crm.session
    # the person's own records are gone for good, trash included
    assert session.get(Contact, made["contact"].id) is None
    assert session.get(type(made["lead"]), made["lead"].id) is None
    assert not {p for p in crm.settings.attachments_path.rglob("*") if p.is_file()}
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
    assert len(list(outbox_path(crm.settings.instance_path).glob("*.eml"))) == 1
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
