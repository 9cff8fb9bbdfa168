"""A person who touched every module, and a scan of every table for them: shared by the
privacy tests (erasure, export)."""

from __future__ import annotations

import io
from email.message import EmailMessage
from typing import Any

from sqlalchemy import JSON, LargeBinary, MetaData, String, Text, select

from crmcore.mail.outbox import outbox_path, write_to_outbox
from crmcore.notifications import Notification

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
