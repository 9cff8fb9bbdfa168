"""Migrations: one lineage and version table per plugin, idempotent upgrades, models that match."""

from __future__ import annotations

import importlib
import pkgutil
import secrets
import sys
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import IntegrityError

import crmcore
from crmcore import migrate
from crmcore.app import create_app
from crmcore.db import Base
from crmcore.instance import init_instance, upgrade_all

PLUGIN_SOURCE = """
from crmcore import Plugin

PLUGIN = Plugin(name="{name}", title="Migrating", version="1.0")
"""

REVISION_SOURCE = '''
"""Create {name}_thing."""
import sqlalchemy as sa
from alembic import op

revision = "0001_{name}"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table("{name}_thing", sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("label", sa.String(20)))


def downgrade():
    op.drop_table("{name}_thing")
'''


@pytest.fixture
def migrating_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A plugin package in ``tmp_path`` shipping one migration; returns its module name."""
    name = f"mig{secrets.token_hex(3)}"
    package = tmp_path / f"crmtest_{name}"
    (package / "migrations" / "versions").mkdir(parents=True)
    (package / "__init__.py").write_text(PLUGIN_SOURCE.format(name=name))
    (package / "migrations" / "versions" / f"0001_{name}.py").write_text(
        REVISION_SOURCE.format(name=name)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield package.name
    sys.modules.pop(package.name, None)


def _app(database: str, tmp_path: Path, plugins: list[Any]) -> Any:
    return create_app(
        tmp_path / "instance", config={"database_url": database}, plugins=plugins, discover=False
    )


def _snapshot(crm: Any) -> dict[str, Any]:
    """Tables, their columns, and every version table's rows."""
    crm.session.commit()
    inspector = inspect(crm.engine)
    tables = sorted(inspector.get_table_names())
    out: dict[str, Any] = {t: [c["name"] for c in inspector.get_columns(t)] for t in tables}
    with crm.engine.connect() as conn:
        for table in tables:
            if table.startswith("alembic_version"):
                out[f"{table} rows"] = sorted(
                    conn.execute(text(f"SELECT version_num FROM {table}")).scalars()
                )
    return out


def test_each_lineage_has_its_own_version_table(fresh_database, tmp_path, migrating_plugin):
    app = _app(fresh_database, tmp_path, [migrating_plugin])
    crm = app.extensions["crm"]
    name = migrating_plugin.removeprefix("crmtest_")
    with app.app_context():
        assert migrate.lineages(crm) == ["core", name]
        assert upgrade_all(crm, only_enabled=False) == ["core", name]
        snapshot = _snapshot(crm)
        assert "alembic_version" not in snapshot
        assert snapshot["alembic_version_core rows"] == migrate.head(crm, "core").split(",")
        assert snapshot[f"alembic_version_{name} rows"] == [f"0001_{name}"]
        assert snapshot[f"{name}_thing"] == ["id", "label"]
        for lineage in ("core", name):
            assert migrate.current(crm, lineage) == migrate.head(crm, lineage)
        # only the lineage's own revisions are in its history
        assert migrate.head(crm, name) == f"0001_{name}"
        assert f"0001_{name}" not in migrate.head(crm, "core")


def test_enabled_only_upgrade_skips_disabled_plugins(fresh_database, tmp_path, migrating_plugin):
    app = _app(fresh_database, tmp_path, [migrating_plugin])
    crm = app.extensions["crm"]
    name = migrating_plugin.removeprefix("crmtest_")
    with app.app_context():
        init_instance(crm)
        assert upgrade_all(crm) == ["core"]
        assert f"{name}_thing" not in _snapshot(crm)
        assert migrate.current(crm, name) is None
        from crmcore.instance import enable_plugin

        enable_plugin(crm, name)
        assert f"{name}_thing" in _snapshot(crm)
        assert upgrade_all(crm) == ["core", name]


def test_upgrade_is_idempotent(fresh_database, tmp_path, migrating_plugin):
    app = _app(fresh_database, tmp_path, [migrating_plugin])
    crm = app.extensions["crm"]
    with app.app_context():
        upgrade_all(crm, only_enabled=False)
        init_instance(crm)
        first = _snapshot(crm)
        roles = crm.session.execute(text("SELECT name, grants FROM core_role ORDER BY name")).all()
        upgrade_all(crm, only_enabled=False)
        init_instance(crm)
        assert _snapshot(crm) == first
        again = crm.session.execute(text("SELECT name, grants FROM core_role ORDER BY name")).all()
        assert again == roles


def _import_every_model() -> None:
    """Models register on ``Base.metadata`` when imported: import every crmcore module."""
    for info in pkgutil.walk_packages(crmcore.__path__, "crmcore."):
        if ".migrations" in info.name or info.name.startswith("crmcore.testing"):
            continue
        importlib.import_module(info.name)


#: core_ tables except the search backend's own storage (SQLite FTS5 tables, PostgreSQL tsvector)
_include_core = migrate.include_object_for("core_")


def test_include_object_keeps_core_tables_except_search_storage():
    from sqlalchemy import Column, Integer, MetaData, Table

    table = Table("core_search_doc", MetaData(), Column("tsv", Integer), Column("body", Integer))
    assert _include_core(table, "core_contact", "table", False, None)
    assert not _include_core(table, "core_search_fts", "table", False, None)
    assert not _include_core(table, "core_search_fts_data", "table", False, None)
    assert not _include_core(table, "widgets_widget", "table", False, None)
    assert not _include_core(table, "alembic_version_core", "table", False, None)
    assert not _include_core(table.c.tsv, "tsv", "column", False, None)
    assert _include_core(table.c.body, "body", "column", False, None)


def test_models_match_the_migrations(fresh_database, tmp_path):
    _import_every_model()
    app = _app(fresh_database, tmp_path, [])
    crm = app.extensions["crm"]
    with app.app_context():
        migrate.upgrade(crm, "core")
        with crm.engine.connect() as conn:
            context = MigrationContext.configure(
                conn,
                opts={
                    "include_object": _include_core,
                    "compare_type": True,
                    "compare_server_default": False,
                    "target_metadata": Base.metadata,
                },
            )
            diff = compare_metadata(context, Base.metadata)
    assert diff == [], "models and migrations differ: run `crm db revision core -m ...`"


def test_the_comparison_can_see_a_difference(fresh_database, tmp_path):
    """The check above is not vacuous: a table missing from the migrations is reported."""
    app = _app(fresh_database, tmp_path, [])
    crm = app.extensions["crm"]
    with app.app_context():
        migrate.upgrade(crm, "core")
        with crm.engine.begin() as conn:
            conn.execute(text("DROP TABLE core_audit"))
        with crm.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"include_object": _include_core})
            diff = compare_metadata(context, Base.metadata)
    assert [d[0] for d in diff if d[0] == "add_table"] == ["add_table"]


def test_0014_drops_the_contacts_redundant_indexes_and_gives_them_back(fresh_database, tmp_path):
    """The single-column owner and change-time indexes go; the composite ones that serve
    their look-ups stay; a downgrade restores both."""
    from alembic import command

    app = _app(fresh_database, tmp_path, [])
    crm = app.extensions["crm"]
    single = {"ix_core_contact_owner_id", "ix_core_contact_updated_at"}
    composite = {"ix_core_contact_owner_id_id", "ix_core_contact_updated_at_id"}

    def indexes() -> set[str]:
        crm.session.commit()
        return {i["name"] for i in inspect(crm.engine).get_indexes("core_contact")}

    with app.app_context():
        migrate.upgrade(crm, "core")
        assert composite <= indexes() and not single & indexes()
        command.downgrade(
            migrate._config(crm, "core", crm.session.connection()), "0013_search_batch"
        )
        assert single | composite <= indexes()
        migrate.upgrade(crm, "core")
        assert composite <= indexes() and not single & indexes()


@pytest.mark.parametrize(
    "before, dropped, kept",
    [
        # 0015: (last name, first name, id); (last name, id) serves every look-up and sort
        ("0014_contact_redundant_indexes", "ix_core_contact_name", "ix_core_contact_last_name_id"),
        # 0017: e-mail, as stored; every look-up by address reads lower(email)'s
        ("0016_import_row_fingerprint", "ix_core_contact_email", "ix_core_contact_email_lower"),
    ],
    ids=["0015", "0017"],
)
def test_a_dropped_contacts_index_goes_and_a_downgrade_gives_it_back(
    fresh_database, tmp_path, before, dropped, kept
):
    """The index that another one made redundant goes, the one that serves its queries
    stays; a downgrade restores it."""
    from alembic import command

    app = _app(fresh_database, tmp_path, [])
    crm = app.extensions["crm"]

    def indexes() -> set[str]:  # expression indexes too, which SQLite's reflection skips
        crm.session.commit()
        listed = (
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'core_contact'"
            if crm.engine.dialect.name == "sqlite"
            else "SELECT indexname FROM pg_indexes WHERE tablename = 'core_contact'"
        )
        return set(crm.session.scalars(text(listed)))

    with app.app_context():
        migrate.upgrade(crm, "core")
        assert kept in indexes()
        assert dropped not in indexes()
        command.downgrade(migrate._config(crm, "core", crm.session.connection()), before)
        assert {dropped, kept} <= indexes()
        migrate.upgrade(crm, "core")
        assert dropped not in indexes()


def test_0016_keeps_fingerprints_as_64_bits_and_recognises_older_imports(fresh_database, tmp_path):
    """Rows imported by the version before (fingerprints of 64 hex digits) are recognised
    after the upgrade, which keeps the number their first 16 digits spell; a downgrade gives
    those 16 digits back."""
    import hashlib
    import json

    from alembic import command

    from crmcore.importing import ImportedRow, ImportOptions, import_file
    from crmcore.permissions import Access

    app = _app(fresh_database, tmp_path, [])
    crm = app.extensions["crm"]
    people = [("Ana", "Núñez", "ana@example.com"), ("Luis", "Gil", "luis@example.com")]
    path = tmp_path / "people.csv"
    path.write_text(
        "First name,Last name,E-mail\n" + "".join(f"{a},{b},{c}\n" for a, b, c in people),
        encoding="utf-8",
    )

    def run() -> Any:
        return import_file(crm, Access.system(), path, ImportOptions(entity="contacts"))

    def stored() -> list[Any]:
        crm.session.commit()
        with crm.engine.connect() as conn:
            return list(conn.scalars(text("SELECT fingerprint FROM core_import_row ORDER BY id")))

    with app.app_context():
        migrate.upgrade(crm, "core")
        assert run().created == 2
        numbers = stored()
        assert all(isinstance(n, int) for n in numbers)
        assert crm.session.scalars(select(ImportedRow.fingerprint)).all()  # the model reads them

        command.downgrade(
            migrate._config(crm, "core", crm.session.connection()), "0015_contact_name_index"
        )
        crm.session.commit()
        assert stored() == [format(n & (2**64 - 1), "016x") for n in numbers]
        # what the version before wrote for the same rows: its SHA-256, whole
        old = []
        for first, last, email in people:
            cells = {"email": email, "first_name": first, "last_name": last}
            digest = hashlib.sha256(
                json.dumps(["contact", cells], sort_keys=True, ensure_ascii=False).encode()
            ).hexdigest()
            old.append(hashlib.sha256(f"{digest}:1".encode()).hexdigest())
        shortened = stored()
        assert [o[:16] for o in old] == shortened
        with crm.engine.begin() as conn:
            for short, whole in zip(shortened, old):
                conn.execute(
                    text("UPDATE core_import_row SET fingerprint = :w WHERE fingerprint = :s"),
                    {"w": whole, "s": short},
                )

        migrate.upgrade(crm, "core")
        assert migrate.current(crm, "core") == migrate.head(crm, "core")
        assert stored() == numbers
        again = run()
        assert (again.created, again.skipped) == (0, 2)
        with pytest.raises(IntegrityError):  # still one row per fingerprint
            with crm.engine.begin() as conn:
                conn.execute(
                    text(
                        "INSERT INTO core_import_row (fingerprint, entity, record_id, created_at)"
                        " VALUES (:f, 'contacts', 1, CURRENT_TIMESTAMP)"
                    ),
                    {"f": numbers[0]},
                )
