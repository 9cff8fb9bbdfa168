"""``insert_many``: PostgreSQL copies the rows (``COPY ... FROM STDIN``; with an ``ON CONFLICT``
suffix in a savepoint, the statement taking over on a conflict), SQLite inserts them with
``executemany``; both store what one ORM insert per row stores, and a refused row fails the
whole call with SQLAlchemy's error, as an insert would."""

from __future__ import annotations

import datetime as dt
import json
from contextlib import contextmanager

import pytest
from sqlalchemy import event, select
from sqlalchemy.exc import IntegrityError

from crmcore.audit import AuditEntry
from crmcore.bulk_insert import insert_many
from crmcore.importing.models import ImportedRow
from crmcore.search import UPSERT_SUFFIX

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
    insert_many(conn, ImportedRow.__table__, names, [(-1, "contacts", 1, None, now)])
    savepoint = conn.begin_nested()
    with pytest.raises(IntegrityError):
        insert_many(
            conn,
            ImportedRow.__table__,
            names,
            [(7, "contacts", 2, None, now), (-1, "contacts", 3, None, now)],
        )
    savepoint.rollback()
    kept = crm.session.scalars(select(ImportedRow.record_id).order_by(ImportedRow.record_id))
    assert list(kept) == [1]  # nothing of the refused call


# with an ``ON CONFLICT`` suffix: search documents -------------------------------------------

DOC_NAMES = ("entity", "record_id", "owner_id", "title", "body")


def _docs(crm, entity):
    from crmcore.search import SearchDoc

    found = crm.session.execute(
        select(SearchDoc.record_id, SearchDoc.title, SearchDoc.body)
        .where(SearchDoc.entity == entity)
        .order_by(SearchDoc.record_id)
    )
    return [tuple(r) for r in found]


@contextmanager
def _inserts(crm):
    """The INSERT statements the driver is handed meanwhile (a copy is not one)."""
    seen: list[str] = []

    def record(conn, cursor, statement, *args):
        if statement.startswith("INSERT"):
            seen.append(statement)

    event.listen(crm.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(crm.engine, "before_cursor_execute", record)


def test_rows_with_an_on_conflict_clause_are_stored_and_replace_their_kin(crm):
    """New rows are stored as given; a row whose key is taken replaces that row (the
    clause's update), also when the key is taken by an earlier row of the same call; on
    PostgreSQL rows without a conflict are copied, with no INSERT per row."""
    from crmcore.search import SearchDoc

    table = SearchDoc.__table__
    conn = crm.session.connection()
    with _inserts(crm) as seen:
        insert_many(
            conn,
            table,
            DOC_NAMES,
            [("t", i, None, AWKWARD[i], "a") for i in range(3)],
            UPSERT_SUFFIX,
        )
        if crm.engine.dialect.name == "postgresql":
            assert seen == []  # copied
        insert_many(
            conn,
            table,
            DOC_NAMES,
            [("t", 1, None, "new one", "b"), ("t", 5, None, "five", "c"), ("t", 5, None, "5", "d")],
            UPSERT_SUFFIX,
        )
    assert _docs(crm, "t") == [
        (0, AWKWARD[0], "a"),
        (1, "new one", "b"),
        (2, AWKWARD[2], "a"),
        (5, "5", "d"),
    ]


def test_a_refused_row_with_an_on_conflict_clause_fails_the_call(crm):
    """A fault the clause does not resolve (an owner that does not exist) fails the call
    with SQLAlchemy's error, as the statement alone would, and stores none of the rows."""
    from crmcore.search import SearchDoc

    conn = crm.session.connection()
    savepoint = conn.begin_nested()
    with pytest.raises(IntegrityError):
        insert_many(
            conn,
            SearchDoc.__table__,
            DOC_NAMES,
            [("t", 1, None, "fine", ""), ("t", 2, 987654, "no such owner", "")],
            UPSERT_SUFFIX,
        )
    savepoint.rollback()
    assert _docs(crm, "t") == []


# ``insert_rows``: a batch of new records ---------------------------------------------------


def _thing_table(crm, identity=None):
    """A throw-away table (rolled back with the test) and its insert plan."""
    from types import SimpleNamespace

    from sqlalchemy import JSON, Column, DateTime, Integer, MetaData, String
    from sqlalchemy.orm import DeclarativeBase

    from crmcore.bulk_insert import insert_plan

    class Base(DeclarativeBase):
        metadata = MetaData()

    class Thing(Base):
        __tablename__ = "test_bulk_rows"
        id = Column(Integer, *([identity] if identity is not None else []), primary_key=True)
        name = Column(String(40), nullable=False)
        data = Column(JSON)
        at = Column(DateTime(timezone=True))

    conn = crm.session.connection()
    Base.metadata.create_all(conn)
    plan = insert_plan(SimpleNamespace(model=Thing))
    assert plan is not None
    return conn, plan


def _rows(plan, values):
    order = [key for key, *_ in plan.columns]
    named = [dict(zip(("name", "data", "at"), v, strict=True)) for v in values]
    return [[row[key] for key in order] for row in named]


@pytest.mark.parametrize("identity", [None, "by default", "always"])
def test_new_rows_get_their_ids_in_order_and_are_stored_exactly(crm, identity):
    """PostgreSQL copies a batch with ids taken from the table's sequence, or inserts it from
    a ``SELECT`` when the ids may not be given (``GENERATED ALWAYS``); SQLite inserts it with
    multi-row statements. Every way, each id belongs to its row and values keep their form."""
    from sqlalchemy import Identity

    from crmcore.bulk_insert import insert_rows

    if identity is not None and crm.engine.dialect.name != "postgresql":
        pytest.skip("identity columns: PostgreSQL")
    column = None if identity is None else Identity(always=identity == "always")
    conn, plan = _thing_table(crm, column)
    at = dt.datetime(2026, 12, 5, 23, 0, 1, 654321, tzinfo=dt.UTC)
    values = [(f"{value} {i}", {"v": value, "i": i}, at) for i, value in enumerate(AWKWARD * 5)]
    conn.exec_driver_sql("INSERT INTO test_bulk_rows (name) VALUES ('before')")
    ids = insert_rows(conn, plan, _rows(plan, values))
    assert len(set(ids)) == len(values) and ids == sorted(ids)
    table = conn.exec_driver_sql("SELECT id, name, data, at FROM test_bulk_rows")
    stored = {r[0]: r[1:] for r in table}
    for record_id, (name, data, when) in zip(ids, values, strict=True):
        got_name, got_data, got_at = stored[record_id]
        assert got_name == name
        assert (json.loads(got_data) if isinstance(got_data, str) else got_data) == data
        if crm.engine.dialect.name == "postgresql":
            assert got_at == when
    # the table's own numbering goes on after the batch's ids
    after = conn.exec_driver_sql(
        "INSERT INTO test_bulk_rows (name) VALUES ('after') RETURNING id"
    ).scalar_one()
    assert after > max(ids)


def test_a_refused_new_row_fails_the_batch_with_sqlalchemys_error(crm):
    from crmcore.bulk_insert import insert_rows

    conn, plan = _thing_table(crm)
    rows = _rows(plan, [("fine", None, None), (None, None, None)])  # name is NOT NULL
    with pytest.raises(IntegrityError):
        insert_rows(conn, plan, rows)


def test_page_sizes_are_powers_of_two_within_the_limit():
    from crmcore.bulk_insert import page_sizes

    assert page_sizes(1840, 2666) == [1024, 512, 256, 32, 16]
    assert page_sizes(5000, 2666) == [2048, 2048, 512, 256, 128, 8]
    assert page_sizes(0, 100) == []
    assert page_sizes(3, 1) == [1, 1, 1]
    for count in range(0, 700, 13):
        for most in (1, 2, 3, 100, 2666):
            sizes = page_sizes(count, most)
            assert sum(sizes) == count
            assert all(size <= most and size & (size - 1) == 0 for size in sizes)
