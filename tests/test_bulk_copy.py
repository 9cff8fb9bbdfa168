"""``insert_many`` without a suffix: PostgreSQL copies the rows (``COPY ... FROM STDIN``),
SQLite inserts them with ``executemany``; both store what one ORM insert per row stores, and
a refused row fails the whole call with SQLAlchemy's error, as an insert would."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from crmcore.audit import AuditEntry
from crmcore.bulk_insert import insert_many
from crmcore.importing.models import ImportedRow

AWKWARD = ["tab\there", "new\nline", "back\\slash", "\\N", "quote ' \" ", "ñandú 😀", "", "a,b"]


def test_rows_are_stored_as_an_orm_insert_stores_them(crm):
    at = dt.datetime(2026, 12, 5, 20, 0, 1, 123456, tzinfo=dt.UTC)
    rows = [
        ("contacts", i, "create", None, at, {"name": [None, value], "n": [0, i]})
        for i, value in enumerate(AWKWARD, start=1)
    ]
    insert_many(
        crm.session.connection(),
        AuditEntry.__table__,
        ("entity", "record_id", "action", "user_id", "at", "changes"),
        rows,
    )
    for i, value in enumerate(AWKWARD, start=1):
        crm.session.add(
            AuditEntry(
                entity="companies",
                record_id=i,
                action="create",
                user_id=None,
                at=at,
                changes={"name": [None, value], "n": [0, i]},
            )
        )
    crm.session.flush()
    stored = {
        (e.entity, e.record_id): (e.action, e.user_id, e.at, e.changes)
        for e in crm.session.scalars(select(AuditEntry).where(AuditEntry.record_id <= 8))
    }
    for i in range(1, len(AWKWARD) + 1):
        assert stored[("contacts", i)] == stored[("companies", i)]
        assert stored[("contacts", i)][2] == at
        assert stored[("contacts", i)][3]["name"][1] == AWKWARD[i - 1]


def test_a_refused_row_fails_the_call_with_sqlalchemys_error(crm):
    now = dt.datetime.now(dt.UTC)
    names = ("fingerprint", "entity", "record_id", "import_id", "created_at")
    conn = crm.session.connection()
    insert_many(conn, ImportedRow.__table__, names, [("f" * 64, "contacts", 1, None, now)])
    savepoint = conn.begin_nested()
    with pytest.raises(IntegrityError):
        insert_many(
            conn,
            ImportedRow.__table__,
            names,
            [("e" * 64, "contacts", 2, None, now), ("f" * 64, "contacts", 3, None, now)],
        )
    savepoint.rollback()
    kept = crm.session.scalars(select(ImportedRow.record_id).order_by(ImportedRow.record_id))
    assert list(kept) == [1]  # nothing of the refused call
