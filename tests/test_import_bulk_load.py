"""SQLite settings of an import (``crmcore.db.bulk_load``): the batches' transactions run with a
bigger page cache, statement journals in memory and fewer checkpoints; every connection gets
its own settings back afterwards, also when the import fails, and the WAL is checkpointed once
at the end."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from sqlalchemy import event

from crmcore.db import BULK_PRAGMAS, bulk_load, create_engine_for, sqlite_write_intent
from crmcore.importing import ImportOptions, import_file
from crmcore.permissions import Access
from crmcore.testing.plugin import build_app

pytestmark = pytest.mark.crm_sqlite_only  # SQLite's pragmas; PostgreSQL is left as it is

PRAGMAS = tuple(BULK_PRAGMAS)


def settings(dbapi_connection) -> dict[str, int]:
    return {name: dbapi_connection.execute(f"PRAGMA {name}").fetchone()[0] for name in PRAGMAS}


def read(engine) -> tuple[int, dict[str, int]]:
    """The id of the DBAPI connection a new transaction gets, and its settings."""
    with engine.begin() as conn:
        dbapi = conn.connection.dbapi_connection
        return id(dbapi), settings(dbapi)


@pytest.fixture
def engine(tmp_path: Path):
    engine = create_engine_for(f"sqlite:///{tmp_path / 'bulk.db'}")
    yield engine
    engine.dispose()


def test_transactions_inside_the_block_run_with_the_bulk_settings(engine):
    before_id, before = read(engine)
    assert before != BULK_PRAGMAS  # SQLite's defaults: 2 MB of cache, 1,000 pages of WAL
    with bulk_load(engine):
        inside_id, inside = read(engine)
    after_id, after = read(engine)
    assert inside == BULK_PRAGMAS
    # the same pooled connection, given its own values back
    assert before_id == inside_id == after_id
    assert after == before


def test_every_connection_of_the_block_gets_its_settings_back(engine):
    _id, defaults = read(engine)
    token = sqlite_write_intent.set(False)  # two readers at once: no write lock for either
    try:
        check_two_connections(engine, defaults)
    finally:
        sqlite_write_intent.reset(token)


def check_two_connections(engine, defaults: dict[str, int]) -> None:
    with bulk_load(engine):
        with engine.begin() as one, engine.begin() as two:  # two pooled connections
            assert settings(one.connection.dbapi_connection) == BULK_PRAGMAS
            assert settings(two.connection.dbapi_connection) == BULK_PRAGMAS
    with engine.begin() as one, engine.begin() as two:
        assert settings(one.connection.dbapi_connection) == defaults
        assert settings(two.connection.dbapi_connection) == defaults


def test_a_failure_inside_the_block_restores_the_settings(engine):
    _id, defaults = read(engine)
    with pytest.raises(RuntimeError), bulk_load(engine):
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
        raise RuntimeError("the import broke off")
    assert read(engine)[1] == defaults


def test_the_wal_is_checkpointed_when_the_block_ends(engine, tmp_path: Path):
    database = tmp_path / "bulk.db"
    with bulk_load(engine):
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE t (x TEXT)")
            conn.exec_driver_sql(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300) "
                "INSERT INTO t SELECT printf('%.2000c', 'x') FROM n"
            )
        # ~150 pages: fewer than a checkpoint waits for, so they are in the WAL alone
        assert database.stat().st_size < 100 * 4096
    assert database.stat().st_size > 150 * 4096  # copied into the database by the checkpoint


def test_an_import_writes_its_batches_with_the_bulk_settings(tmp_path: Path):
    app = build_app([], f"sqlite:///{tmp_path / 'crm.db'}", tmp_path / "instance")
    crm = app.extensions["crm"]
    path = tmp_path / "contacts.csv"
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["First name", "Last name", "E-mail"])
        for i in range(25):
            writer.writerow([f"Ana{i}", "Ruiz", f"ana{i}@example.com"])
    seen: list[dict[str, int]] = []

    def on_insert(_conn, cursor, statement, _params, _context, _many) -> None:
        if statement.startswith("INSERT INTO core_contact "):
            seen.append(settings(cursor.connection))

    try:
        with app.app_context():
            _id, defaults = read(crm.engine)
            event.listen(crm.engine, "before_cursor_execute", on_insert)
            try:
                result = import_file(
                    crm, Access.system(), path, ImportOptions(entity="contacts", batch_size=10)
                )
            finally:
                event.remove(crm.engine, "before_cursor_execute", on_insert)
            assert result.created == 25
            # three batches, written by statements of a power of two rows: 8 + 2, 8 + 2, 4 + 1
            assert seen == [BULK_PRAGMAS] * 6
            assert read(crm.engine)[1] == defaults
            with crm.engine.connect() as conn:
                assert conn.exec_driver_sql("SELECT count(*) FROM core_contact").scalar() == 25
    finally:
        crm.engine.dispose()
