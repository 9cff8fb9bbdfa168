"""An import's look-ups find their rows by index, whatever the size of the table: SQLite's
planner, without statistics, would otherwise walk every live record by the ``deleted_at``
index (``crmcore.db.live`` hints it that most records are live)."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import event, func, select

from crmcore.contacts.models import Company
from crmcore.db import live
from crmcore.importing import ImportOptions, import_file
from crmcore.permissions import Access

pytestmark = pytest.mark.crm_sqlite_only  # the plans of SQLite's planner


def plan(crm, statement: str, params) -> str:
    rows = crm.session.connection().exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params)
    return "\n".join(row[-1] for row in rows)


@contextmanager
def selects_of(crm) -> Iterator[dict[str, object]]:
    """The SELECT statements run inside the block, each with the parameters of its first run."""
    selects: dict[str, object] = {}

    def keep(_conn, _cursor, statement, params, _context, _many) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            selects.setdefault(statement, params)

    event.listen(crm.engine, "before_cursor_execute", keep)
    try:
        yield selects
    finally:
        event.remove(crm.engine, "before_cursor_execute", keep)


def test_the_live_condition_leaves_the_trash_index_to_queries_with_nothing_better(crm):
    by_name = select(Company.id).where(live(Company), func.lower(Company.name).in_(["a", "b"]))
    compiled = by_name.compile(crm.engine, compile_kwargs={"literal_binds": True})
    found = plan(crm, str(compiled), ())
    assert "ix_core_company_name_lower" in found, found
    assert "deleted_at" not in found, found


def test_no_look_up_of_an_import_walks_a_table(crm, records, tmp_path: Path):
    path = tmp_path / "contacts.csv"
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["First name", "Last name", "E-mail", "Phone", "Company"])
        for i in range(30):
            writer.writerow([f"Ana{i}", f"Ruiz{i % 7}", f"ana{i}@example.com", "", f"Firm {i % 4}"])
    with selects_of(crm) as selects:
        result = import_file(crm, Access.system(), path, ImportOptions(entity="contacts"))
    assert result.created == 30
    walks = {}
    for statement, params in selects.items():
        found = plan(crm, statement, params)
        tables = ("core_contact", "core_company", "core_import_row")
        if any(
            f"SCAN {t}" in found or f"{t} USING INDEX ix_{t}_deleted_at" in found for t in tables
        ):
            walks[statement] = found
    assert not walks, walks
