"""``crm insights export``: incremental JSON Lines by ``(updated_at, id)``, deletes from the
audit trail, a signed cursor, idempotent re-runs and refusals."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from crm_insights import warehouse

pytestmark = pytest.mark.crm_plugins("insights")


def run(cli: Any, out: Path, since: str = "", entities: str = "contacts,companies") -> Any:
    """One export; returns the result (its last output line is the next cursor)."""
    args = ["insights", "export", "-o", str(out), "--entities", entities]
    if since:
        args += ["--since", since]
    return cli(*args)


def cursor_of(result: Any) -> str:
    assert result.exit_code == 0, result.output
    return result.output.strip().splitlines()[-1]


def lines(out: Path, prefix: str) -> list[dict[str, Any]]:
    [path] = sorted(out.glob(f"{prefix}-*.jsonl"))
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_first_run_writes_every_record_as_the_api_dumps_it(cli, api, make_contact, tmp_path):
    ada = make_contact(first_name="Ada", last_name="Lovelace", email="ada@example.com")
    grace = make_contact(first_name="Grace", last_name="Hopper")
    token = cursor_of(run(cli, tmp_path))
    rows = lines(tmp_path, "contacts")
    assert [r["id"] for r in rows] == [ada.id, grace.id]
    assert rows[0] == api.get(f"/api/v1/contacts/{ada.id}").json
    assert lines(tmp_path, "companies") == [] and lines(tmp_path, "deletes") == []
    [cursor_file] = tmp_path.glob("cursor-*.txt")
    assert cursor_file.read_text().strip() == token
    # the cursor is opaque and signed, not a readable timestamp
    assert "Ada" not in token and warehouse.decode.__name__


def test_incremental_run_has_only_what_changed(cli, records, make_contact, tmp_path):
    ada = make_contact(first_name="Ada", last_name="Lovelace")
    make_contact(first_name="Grace", last_name="Hopper")
    first = cursor_of(run(cli, tmp_path / "1"))
    records.update("contacts", ada.id, {"title": "Analyst"})
    linus = make_contact(first_name="Linus", last_name="Torvalds")
    second = cursor_of(run(cli, tmp_path / "2", first))
    rows = lines(tmp_path / "2", "contacts")
    assert [r["id"] for r in rows] == [ada.id, linus.id]
    assert rows[0]["title"] == "Analyst"
    # nothing new: empty files, and the cursor stays where it was
    third = cursor_of(run(cli, tmp_path / "3", second))
    assert lines(tmp_path / "3", "contacts") == []
    assert warehouse.decode(records.crm, third) == warehouse.decode(records.crm, second)


def test_records_with_the_same_updated_at_are_never_lost_or_repeated(
    cli, session, records, make_contact, tmp_path, monkeypatch
):
    from crmcore.contacts.models import Contact

    when = dt.datetime(2026, 5, 1, 12, 0, 0, 123456, tzinfo=dt.UTC)
    people = [make_contact(first_name=f"P{i}", last_name="Same") for i in range(5)]
    session.execute(update(Contact).values(updated_at=when))
    session.commit()
    monkeypatch.setattr(warehouse, "BATCH", 2)  # pages end inside the tie
    first = cursor_of(run(cli, tmp_path / "1", entities="contacts"))
    assert [r["id"] for r in lines(tmp_path / "1", "contacts")] == [p.id for p in people]
    # a record committed later with the very same timestamp comes next time, alone
    late = make_contact(first_name="Late", last_name="Same")
    session.execute(update(Contact).where(Contact.id == late.id).values(updated_at=when))
    session.commit()
    cursor_of(run(cli, tmp_path / "2", first, entities="contacts"))
    assert [r["id"] for r in lines(tmp_path / "2", "contacts")] == [late.id]


def test_deletes_trash_purge_and_erasure(cli, crm, session, records, make_contact, tmp_path):
    from crmcore.privacy.service import erase_person
    from crmcore.privacy.trash import purge_trash

    gone = make_contact(first_name="Gone", last_name="Soon")
    erased = make_contact(first_name="Erased", last_name="Person", email="erase.me@example.com")
    kept = make_contact(first_name="Kept", last_name="Here")
    first = cursor_of(run(cli, tmp_path / "1"))
    records.delete("contacts", gone.id)
    purge_trash(crm, session)
    erase_person(crm, session, "erase.me@example.com")
    cursor_of(run(cli, tmp_path / "2", first))
    rows = lines(tmp_path / "2", "deletes")
    assert [(r["op"], r["entity"], r["id"]) for r in rows] == [
        ("delete", "contacts", gone.id),
        ("purge", "contacts", None),
        ("erase", "contacts", erased.id),
    ]
    assert rows[1]["count"] == 1
    assert all(dt.datetime.fromisoformat(r["at"]).tzinfo for r in rows)
    # a trashed record is no change to export; the kept one did not change either
    assert lines(tmp_path / "2", "contacts") == []
    assert kept.id not in {r["id"] for r in rows}


def test_deletes_of_other_entities_are_left_out(cli, records, make_company, tmp_path):
    first = cursor_of(run(cli, tmp_path / "1", entities="contacts"))
    company = make_company(name="Acme")
    records.delete("companies", company.id)
    cursor_of(run(cli, tmp_path / "2", first, entities="contacts"))
    assert lines(tmp_path / "2", "deletes") == []


def test_a_re_run_with_the_same_cursor_gives_the_same_files(cli, records, make_contact, tmp_path):
    ada = make_contact(first_name="Ada", last_name="Lovelace")
    first = cursor_of(run(cli, tmp_path / "x"))
    records.update("contacts", ada.id, {"title": "Analyst"})
    records.delete("contacts", make_contact(first_name="Gone", last_name="Soon").id)
    again = [cursor_of(run(cli, tmp_path / "out", first)) for _ in range(2)]
    files = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()}
    assert again[0] == again[1]
    assert len(files) == 4  # contacts, companies, deletes, cursor: overwritten, not added
    assert b'"Analyst"' in next(v for k, v in files.items() if k.startswith("contacts-"))
    cursor_of(run(cli, tmp_path / "out", first))
    assert {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()} == files


@pytest.mark.parametrize(
    "since",
    ["garbage", "eyJ2IjoxfQ.forged", "a" * 200_000],
)
def test_a_bad_cursor_is_refused(cli, make_contact, tmp_path, since):
    result = run(cli, tmp_path, since)
    assert result.exit_code == 1
    assert "Invalid export cursor" in result.output
    assert not any(tmp_path.glob("*.jsonl"))


def test_a_cursor_signed_with_another_key_is_refused(cli, crm, tmp_path):
    from itsdangerous import URLSafeSerializer

    forged = URLSafeSerializer("another key", salt="insights-export").dumps(
        {"v": 1, "r": {}, "a": 0}
    )
    result = run(cli, tmp_path, forged)
    assert result.exit_code == 1 and "Invalid export cursor" in result.output


def test_unknown_and_disabled_entities_are_named(cli, tmp_path):
    result = run(cli, tmp_path, entities="contacts,nonsense,deals")
    assert result.exit_code == 1
    assert "Unknown or disabled entities: nonsense, deals." in result.output
    assert not tmp_path.exists() or not any(tmp_path.iterdir())
