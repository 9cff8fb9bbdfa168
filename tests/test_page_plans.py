"""A record's page reads its rows by index, whatever the size of the table: a statement that
sorts a whole table (its pickers' first options were the first contacts by name) costs every
visit ~45 ms at 100,000 contacts and ~0.5 s at a million."""

from __future__ import annotations

import pytest
from test_import_plans import plan, selects_of

pytestmark = pytest.mark.crm_sqlite_only  # the plans of SQLite's planner


def test_the_contact_page_sorts_no_whole_table(crm, records, web):
    company = records.create("companies", {"name": "Acme"})
    contact = records.create(
        "contacts", {"first_name": "Ana", "last_name": "Ruiz", "company_id": company.id}
    )
    for i in range(3):
        records.create("contacts", {"first_name": f"Ana{i}", "last_name": "Ruiz"})
    with selects_of(crm) as selects:
        html = web.get(f"/contacts/{contact.id}").get_data(as_text=True)
    assert 'id="action-merge-other_id"' in html  # the page with its merge picker
    sorts = {}
    for statement, params in selects.items():
        found = plan(crm, statement, params)
        walks = any(
            f"SCAN {table}" in found or f"{table} USING INDEX ix_{table}_deleted_at" in found
            for table in ("core_contact", "core_company")
        )
        if walks and "TEMP B-TREE FOR ORDER BY" in found:
            sorts[statement] = found
    assert not sorts, sorts


def test_the_contacts_sorted_by_email_read_the_lower_case_index(crm, records, web, api):
    """Addresses are sorted by ``lower(email)``, the index every look-up by address uses (the
    index of ``email`` as stored is gone: it held the same values)."""
    for i in range(4):
        records.create("contacts", {"last_name": f"R{i}", "email": f"r{i}@example.com"})
    with selects_of(crm) as selects:
        assert web.get("/contacts?sort=email").status_code == 200
        first = api.get("/api/v1/contacts?sort=-email&limit=2").get_json()
        assert api.get(f"/api/v1/contacts?sort=-email&limit=2&cursor={first['next_cursor']}")
    sorted_by_email = {
        s: p for s, p in selects.items() if "ORDER BY lower(core_contact.email)" in s
    }
    assert len(sorted_by_email) >= 2, list(selects)
    for statement, params in sorted_by_email.items():
        found = plan(crm, statement, params)
        assert "ix_core_contact_email_lower" in found and "TEMP B-TREE" not in found, found
