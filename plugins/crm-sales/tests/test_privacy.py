"""The sales part of a person's data (``crm_person_data``): exported, and on erasure the leads
deleted while deals, quotes and orders stay with their amounts, detached and pseudonymised."""

from __future__ import annotations

import json
import zipfile
from decimal import Decimal

import pytest
from crm_sales.models import Deal, Lead, Order

pytestmark = pytest.mark.crm_plugins("sales")


def test_sales_rows_are_exported_then_erased(crm, records, cli, tmp_path):
    contact = records.create(
        "contacts", {"first_name": "Olga", "last_name": "Berrocal", "email": "olga@example.org"}
    )
    lead = records.create("leads", {"last_name": "Berrocal", "email": "OLGA@example.org"})
    deal = records.create(
        "deals", {"title": "Olga Berrocal renewal", "amount": "900.00", "contact_id": contact.id}
    )
    order = records.create(
        "orders",
        {
            "contact_id": contact.id,
            "notes": "Call Berrocal first",
            "lines": [{"description": "Kit", "quantity": "3", "unit_price": "10.00"}],
        },
    )
    target = tmp_path / "olga.zip"
    assert cli("people", "export", "olga@example.org", "-o", str(target)).exit_code == 0
    with zipfile.ZipFile(target) as archive:
        sections = json.loads(archive.read("person.json"))["sections"]
    assert [r["id"] for r in sections["sales.leads"]] == [lead.id]
    assert [r["id"] for r in sections["sales.deals"]] == [deal.id]
    assert sections["sales.orders"][0]["total"] == "30.00"

    assert cli("people", "erase", "olga@example.org", "--yes").exit_code == 0
    session = crm.session
    session.expire_all()
    assert session.get(Lead, lead.id) is None
    kept = session.get(Deal, deal.id)
    assert kept.amount == Decimal("900.00") and kept.contact_id is None
    assert "Berrocal" not in kept.title and "Olga" not in kept.title
    kept_order = session.get(Order, order.id)
    assert kept_order.total == Decimal("30.00") and kept_order.contact_id is None
    assert "Berrocal" not in (kept_order.notes or "")
    hits = crm.search.search(session, records.access, crm.entities(), "Berrocal")
    assert hits == []
