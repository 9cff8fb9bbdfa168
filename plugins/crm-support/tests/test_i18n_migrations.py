"""Spanish for every UI string, and migrations that match the models."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import crm_support
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from babel.messages.pofile import read_po

from crmcore.db import Base

PACKAGE = Path(crm_support.__file__).parent
PO = PACKAGE / "translations" / "es" / "LC_MESSAGES" / "messages.po"


def catalogue() -> dict[str, str]:
    with PO.open("rb") as f:
        return {m.id: m.string for m in read_po(f) if m.id}


@pytest.mark.crm_sqlite_only  # the catalogue, no database
def test_every_ui_string_has_a_spanish_translation(tmp_path):
    """What pybabel extracts from the code and templates (babel.cfg) is all translated, and
    the compiled catalogue is not older than its source."""
    pot = tmp_path / "messages.pot"
    subprocess.run(
        [
            str(Path(sys.executable).parent / "pybabel"),
            "extract",
            "-F",
            str(PACKAGE.parent / "babel.cfg"),
            "-k",
            "_l",
            "-k",
            "lazy_gettext",
            "-o",
            str(pot),
            ".",
        ],
        cwd=PACKAGE,
        check=True,
        capture_output=True,
    )
    with pot.open("rb") as f:
        wanted = {m.id for m in read_po(f) if m.id}
    assert "Hello," in wanted and "Attach files" in wanted  # the extraction saw the code
    es = catalogue()
    assert sorted(s for s in wanted if not es.get(s)) == []
    assert (PO.with_suffix(".mo")).stat().st_mtime >= PO.stat().st_mtime - 1


@pytest.mark.crm_plugins("support")
def test_portal_in_spanish(client):
    html = client.get("/portal/login", headers={"Accept-Language": "es"}).get_data(as_text=True)
    assert "Portal de soporte" in html and "Contraseña" in html


def _support_only(obj, name, type_, reflected, compare_to):
    if type_ == "table":
        return name.startswith("support_")
    table = getattr(obj, "table", None)
    return table is None or table.name.startswith("support_")


def test_models_match_the_migrations(app, crm):
    """The session database was built by running every plugin's migrations."""
    # the test's own connection: on SQLite the test's transaction holds the write lock
    context = MigrationContext.configure(
        crm.session.connection(),
        opts={
            "include_object": _support_only,
            "compare_type": True,
            "compare_server_default": False,
            "target_metadata": Base.metadata,
        },
    )
    diff = compare_metadata(context, Base.metadata)
    assert diff == [], "models and migrations differ: run `crm db revision support -m ...`"
    tables = {t for t in Base.metadata.tables if t.startswith("support_")}
    assert {
        "support_ticket",
        "support_message",
        "support_queue",
        "support_sla_policy",
        "support_portal_account",
        "support_feedback",
        "support_counter",
        "support_web_request",
        "support_canned_response",
    } == tables


@pytest.mark.crm_plugins("support")
def test_demo_data(crm, records, make_user, make_contact):
    from random import Random

    from crmcore import DemoContext

    make_contact(email="demo@customer.example")
    agent = make_user("support_agent")
    crm.hook("crm_demo_data")(
        ctx=DemoContext(records=records, random=Random(1), users={"support_agent": agent})
    )
    count = records.count("tickets")
    assert count == 6
    assert records.count("sla_policies") == 4 and records.count("support_queues") == 2
