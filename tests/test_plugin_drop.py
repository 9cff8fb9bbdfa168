"""``crm plugins drop``: the explicit, confirmed removal of a disabled plugin's data, after an
export of it."""

import json

import pytest
from sqlalchemy import inspect, select

from crmcore.models import Note
from crmcore.search import SearchDoc


def _tables(crm):
    return set(inspect(crm.session.connection()).get_table_names())


def _article(records):
    article = records.create(
        "articles", {"title": "Drop me", "body": "Body", "status": "published"}
    )
    records.create(
        "notes", {"record_type": "article", "record_id": article.id, "body": "a note on it"}
    )
    return article


@pytest.mark.crm_plugins("kb")
def test_refuses_an_enabled_plugin(cli, crm, records):
    _article(records)
    result = cli("plugins", "drop", "kb", "--yes")
    assert result.exit_code != 0
    assert "disable it first" in result.output
    assert "kb_article" in _tables(crm)


def test_refuses_a_builtin_plugin(cli):
    result = cli("plugins", "drop", "contacts", "--yes")
    assert result.exit_code != 0
    assert "built in" in result.output


@pytest.mark.crm_plugins("kb")
def test_without_confirmation_nothing_changes(cli, crm, records):
    _article(records)
    assert cli("plugins", "disable", "kb").exit_code == 0
    result = cli("plugins", "drop", "kb", input="sales\n")
    assert result.exit_code != 0
    assert "not confirmed" in result.output
    assert "kb_article" in _tables(crm)
    assert not (crm.settings.instance_path / "exports").exists() or not any(
        p.name.startswith("drop-kb") for p in (crm.settings.instance_path / "exports").iterdir()
    )


@pytest.mark.crm_plugins("kb")
def test_exports_then_drops_and_enabling_starts_afresh(cli, crm, records, make_contact):
    article = _article(records)
    contact = make_contact(first_name="Keep")
    assert cli("plugins", "disable", "kb").exit_code == 0

    result = cli("plugins", "drop", "kb", input="kb\n")
    assert result.exit_code == 0, result.output
    folder = next((crm.settings.instance_path / "exports").glob("drop-kb-*"))
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["plugin"] == "kb" and manifest["tables"]["kb_article"] == 1
    exported = [json.loads(line) for line in (folder / "kb_article.jsonl").open()]
    assert exported[0]["id"] == article.id and exported[0]["title"] == "Drop me"
    notes = [json.loads(line) for line in (folder / "core_note.jsonl").open()]
    assert [n["body"] for n in notes] == ["a note on it"]

    tables = _tables(crm)
    assert not {t for t in tables if t.startswith("kb_")}
    assert "alembic_version_kb" not in tables
    session = crm.session
    assert session.scalars(select(Note).where(Note.record_type == "article")).all() == []
    assert session.scalars(select(SearchDoc).where(SearchDoc.entity == "article")).all() == []
    assert records.get("contacts", contact.id).first_name == "Keep"

    assert cli("plugins", "enable", "kb").exit_code == 0
    assert "kb_article" in _tables(crm)
    assert session.scalars(records.query("articles")).all() == []
