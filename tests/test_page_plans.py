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
