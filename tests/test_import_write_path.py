"""The driver-level batch writes of an import (``crmcore.bulk_insert``) store exactly what the
one-record path stores: the record's columns, its audit row, its search document; and a bad
row in a batch costs only itself."""

from __future__ import annotations

import csv
import gc
import io
import json
from pathlib import Path

import pytest
from sqlalchemy import select, text

from crmcore.audit import AuditEntry
from crmcore.bulk_insert import insert_plan, insert_rows
from crmcore.contacts.models import Contact
from crmcore.fields import batch_region, default_region
from crmcore.importing import ImportOptions, import_file
from crmcore.importing.models import ImportedRow
from crmcore.permissions import Access
from crmcore.search import SearchDoc

HEADER = ["First name", "Last name", "E-mail", "Phone", "City", "Tags", "Level"]


def write(path: Path, rows: list[list[str]]) -> Path:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows([HEADER, *rows])
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


def level_field(records) -> None:
    records.create(
        "custom_fields",
        {
            "entity": "contacts",
            "name": "level",
            "label": "Level",
            "type": "choice",
            "choices": ["gold", "silver"],
        },
    )


def stored(crm, record_id: int) -> dict:
    """The contact's row as the database holds it (JSON columns as their stored text on
    SQLite), without what differs between two records by nature."""
    row = crm.session.execute(
        text("SELECT * FROM core_contact WHERE id = :id"), {"id": record_id}
    ).mappings()
    values = dict(row.one())
    for name in ("id", "created_at", "updated_at"):
        values.pop(name)
    return values


def audit_of(crm, record_id: int) -> list[tuple]:
    return [
        (a.entity, a.action, a.user_id, a.changes)
        for a in crm.session.scalars(
            select(AuditEntry).where(
                AuditEntry.record_id == record_id, AuditEntry.entity == "contact"
            )
        )
    ]


def search_of(crm, record_id: int) -> tuple:
    doc = crm.session.scalars(
        select(SearchDoc).where(SearchDoc.entity == "contact", SearchDoc.record_id == record_id)
    ).one()
    return (doc.owner_id, doc.title, doc.body)


def test_an_imported_row_is_stored_audited_and_indexed_as_a_created_one(
    crm, records, make_user, tmp_path, monkeypatch
):
    monkeypatch.setattr(crm.settings, "default_region", "ES")  # local numbers: Spanish
    level_field(records)
    service = crm.records(Access.for_user(make_user(role="admin")))
    path = write(
        tmp_path / "one.csv",
        [
            ["José", "Núñez", "Jose@Example.com", "91 234 56 78", "Málaga", "vip;b2b", "gold"],
            ["Eva", "Sanz", "eva@example.com", "", "", "", ""],  # a batch: create_many's path
            ["Luis", "Gil", "luis@example.com", "+44 20 7946 0958", "", "b2b", "silver"],
        ],
    )
    result = import_file(crm, service.access, path, ImportOptions(entity="contacts"))
    assert (result.created, result.rejected) == (3, 0)
    imported = crm.session.scalars(select(Contact).where(Contact.email == "jose@example.com")).one()
    created = service.create(
        "contacts",
        {
            "first_name": "José",
            "last_name": "Núñez",
            "email": "jose2@example.com",
            "phone": "91 234 56 78",
            "city": "Málaga",
            "tags": ["vip", "b2b"],
            "custom_fields": {"level": "gold"},
        },
    )
    mine, theirs = stored(crm, imported.id), stored(crm, created.id)
    assert mine.pop("email") == "jose@example.com" and theirs.pop("email") == "jose2@example.com"
    assert mine == theirs  # every column, JSON in the same stored form
    assert mine["phone"] == "+34912345678" and mine["owner_id"] == service.access.user_id

    [(entity, action, user_id, changes)] = audit_of(crm, imported.id)
    [(_e, _a, _u, created_changes)] = audit_of(crm, created.id)
    assert (entity, action, user_id) == ("contact", "create", service.access.user_id)
    assert changes.pop("email") == [None, "jose@example.com"]
    assert created_changes.pop("email") == [None, "jose2@example.com"]
    assert changes == created_changes
    assert changes["custom_fields.level"] == [None, "gold"]
    # the stored text itself (SQLite keeps what was sent): same keys in the same order, same
    # values (a batch's is compact text, written by orjson)
    raw = {
        record_id: crm.session.execute(
            text(
                "SELECT CAST(changes AS TEXT) FROM core_audit"
                " WHERE entity = 'contact' AND record_id = :id"
            ),
            {"id": record_id},
        ).scalar_one()
        for record_id in (imported.id, created.id)
    }
    assert list(json.loads(raw[imported.id].replace("jose@", "jose2@")).items()) == list(
        json.loads(raw[created.id]).items()
    )

    owner, title, body = search_of(crm, imported.id)
    assert (owner, title) == (search_of(crm, created.id)[0], search_of(crm, created.id)[1])
    assert body == search_of(crm, created.id)[2].replace("jose2@", "jose@")
    assert "jose nunez" in body and "malaga" in body
    found = crm.search.search(crm.session, service.access, [crm.registry.get("contacts")], "nunez")
    assert {d.record_id for d in found} == {imported.id, created.id}

    fingerprints = crm.session.scalars(select(ImportedRow)).all()
    assert len(fingerprints) == 3 and {f.entity for f in fingerprints} == {"contact"}
    assert imported.id in {f.record_id for f in fingerprints}
    again = import_file(crm, service.access, path, ImportOptions(entity="contacts"))
    assert (again.created, again.skipped) == (0, 3)  # the fingerprint makes the re-run idempotent


def test_a_bad_row_in_the_middle_of_a_batch_costs_only_itself(crm, records, tmp_path, monkeypatch):
    monkeypatch.setattr(crm.settings, "default_region", "ES")
    level_field(records)
    rows = [
        [f"Name{i}", f"Last{i}", f"p{i}@example.com", f"91 234 56 {i:02d}", "Madrid", "t", "gold"]
        for i in range(12)
    ]
    rows[5][2] = "p5 at example.com"  # not an address
    rows[6][3] = "call after five"  # not a phone number
    rows[7][6] = "platinum"  # not a choice
    rows[8][2] = "P1@EXAMPLE.COM"  # a duplicate of row 1
    path = write(tmp_path / "batch.csv", rows)
    result = import_file(
        crm, Access.system(), path, ImportOptions(entity="contacts", batch_size=50)
    )
    assert (result.created, result.rejected, result.skipped) == (8, 3, 1)
    with open(result.report_path, encoding="utf-8-sig", newline="") as fh:
        report = list(csv.reader(fh))
    assert [r[0] for r in report[1:]] == ["7", "8", "9"]  # file lines (the header is line 1)
    assert "e-mail" in report[1][1] and "phone" in report[2][1] and "level" in report[3][1]
    emails = sorted(crm.session.scalars(select(Contact.email)))
    assert emails == sorted(f"p{i}@example.com" for i in (0, 1, 2, 3, 4, 9, 10, 11))
    ids = list(crm.session.scalars(select(Contact.id)))
    for record_id in ids:  # every created row has its audit row, document and fingerprint
        assert len(audit_of(crm, record_id)) == 1
        assert search_of(crm, record_id)[2]
    fingerprints = crm.session.scalars(select(ImportedRow.record_id)).all()
    assert sorted(r for r in fingerprints) == sorted(ids)


def test_ids_come_back_in_the_order_of_the_rows_across_pages(crm, monkeypatch):
    """Many statements per batch (a small parameter limit): each id belongs to its row."""
    import crmcore.bulk_insert as bulk

    monkeypatch.setattr(bulk, "MAX_PARAMETERS", 40)  # a few rows per statement
    entity = crm.registry.get("contacts")
    plan = insert_plan(entity)
    assert plan is not None
    keys = [key for key, *_ in plan.columns]
    rows = []
    for i in range(25):
        values = {"first_name": f"Row{i}", "last_name": "Order", "tags": [f"t{i}"] if i % 2 else []}
        rows.append(
            [
                values.get(key, default(None) if call else default)
                for key, _name, default, call in plan.columns
            ]
        )
    ids = insert_rows(crm.session.connection(), plan, rows)
    assert len(ids) == len(set(ids)) == 25
    for i, record_id in enumerate(ids):
        contact = crm.session.get(Contact, record_id)
        assert contact.first_name == f"Row{i}"
        assert contact.tags == ([f"t{i}"] if i % 2 else [])
    assert "first_name" in keys


def test_sqlite_rowids_out_of_order_fall_back_to_one_row_at_a_time(crm, records):
    """Past the largest rowid SQLite picks free ones at random: the batch is taken back and
    written row by row, each record with its own id."""
    if crm.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's rowid allocation")
    crm.session.execute(
        text(
            "INSERT INTO core_contact (id, first_name, last_name, tags, custom_fields, emails, "
            "phones, addresses, email_opt_out, created_at, updated_at, version) VALUES "
            "(9223372036854775807, 'Last', 'Rowid', '[]', '{}', '[]', '[]', '[]', 0, "
            "'2026-01-01 00:00:00', '2026-01-01 00:00:00', 1)"
        )
    )
    made = records.create_many(
        "contacts", [{"first_name": f"Random{i}", "last_name": "Id"} for i in range(30)]
    )
    assert all(not isinstance(m, Exception) for m in made)
    for i, record in enumerate(made):
        crm.session.expire(record)
        assert record.first_name == f"Random{i}"
        stored_name = crm.session.execute(
            text("SELECT first_name FROM core_contact WHERE id = :id"), {"id": record.id}
        ).scalar_one()
        assert stored_name == f"Random{i}"
        assert search_of(crm, record.id)[1] == f"Random{i} Id"
    total = crm.session.execute(text("SELECT count(*) FROM core_contact")).scalar_one()
    assert total == 31  # the rows taken back are not left behind


def test_a_batch_reads_the_phone_region_once(app, crm, monkeypatch):
    calls = []
    import crmcore.settings as settings

    real = settings.phone_region

    def counted(crm_=None):
        calls.append(1)
        return real(crm_)

    monkeypatch.setattr(settings, "phone_region", counted)
    with batch_region():
        regions = {default_region() for _ in range(50)}
    assert len(calls) == 1 and len(regions) == 1
    default_region()
    assert len(calls) == 2  # outside a batch the setting is read as before


def test_the_collector_is_tuned_for_the_run_and_restored_after_it(crm, tmp_path, monkeypatch):
    from crmcore.importing import engine

    seen: list[tuple[bool, int]] = []
    collected: list[int] = []
    batch = engine.Importer._import_batch
    collect = gc.collect

    def watched(self, rows):
        seen.append((gc.isenabled(), gc.get_freeze_count()))
        return batch(self, rows)

    def counted(generation=2):
        # the pass walks the young objects alive: the batch imported must be gone by then
        rows_alive = sum(type(o) is engine.Row for o in gc.get_objects(0))
        collected.append((generation, rows_alive))
        return collect(generation)

    monkeypatch.setattr(engine.Importer, "_import_batch", watched)
    monkeypatch.setattr(engine.gc, "collect", counted)
    assert gc.isenabled()
    path = write(tmp_path / "few.csv", [[f"N{i}", f"L{i}", f"n{i}@example.com"] for i in range(5)])
    options = ImportOptions(entity="contacts", batch_size=2)
    result = import_file(crm, Access.system(), path, options)
    assert result.created == 5
    # no automatic collection during the run, the long-lived objects frozen out of it, and
    # the young ones collected between batches (after the first two of three), once the
    # batch imported has been freed and before the next one is read
    assert [enabled for enabled, _frozen in seen] == [False] * 3
    assert all(frozen > 0 for _enabled, frozen in seen)
    assert collected == [(1, 0), (1, 0)]
    assert gc.isenabled() and gc.get_freeze_count() == 0

    def broken(self, rows):
        raise RuntimeError("a failing batch")

    monkeypatch.setattr(engine.Importer, "_import_batch", broken)
    with pytest.raises(RuntimeError):
        import_file(crm, Access.system(), path, ImportOptions(entity="contacts"))
    assert gc.isenabled() and gc.get_freeze_count() == 0


def counted_creates(monkeypatch) -> list[tuple[str, int]]:
    """The (entity, rows) of each ``create_many`` call from now on."""
    from crmcore.records import RecordService

    calls: list[tuple[str, int]] = []
    create_many = RecordService.create_many

    def counted(self, entity, rows, **options):
        calls.append((self.entity(entity).name, len(rows)))
        return create_many(self, entity, rows, **options)

    monkeypatch.setattr(RecordService, "create_many", counted)
    return calls


def test_a_duplicate_of_a_row_not_created_yet_is_skipped_without_cutting_the_batch(
    crm, records, tmp_path, monkeypatch
):
    level_field(records)
    rows = [[f"N{i}", f"L{i}", f"p{i}@example.com", "", "Madrid", "", "gold"] for i in range(6)]
    rows[2][2] = "P0@Example.COM"  # duplicates of rows 0 and 1, neither created yet
    rows[4][2] = " p1@example.com "
    calls = counted_creates(monkeypatch)
    path = write(tmp_path / "dups.csv", rows)
    result = import_file(crm, Access.system(), path, ImportOptions(entity="contacts"))
    assert (result.created, result.skipped, result.rejected) == (4, 2, 0)
    assert calls == [("contact", 4)]  # one create_many for the batch, not one per piece
    emails = list(crm.session.scalars(select(Contact.email).order_by(Contact.id)))
    assert emails == ["p0@example.com", "p1@example.com", "p3@example.com", "p5@example.com"]


@pytest.mark.crm_plugins("widgets", "everyhook")
def test_a_duplicate_whose_earlier_row_is_refused_is_imported_as_one_by_one(
    crm, records, tmp_path, monkeypatch
):
    """The row a duplicate was skipped for is vetoed when the batch's rows are created: the
    batch is redone in file order, and ends as rows imported one at a time do."""
    level_field(records)
    rows = [[f"N{i}", f"L{i}", f"p{i}@example.com", "", "Madrid", "", "gold"] for i in range(5)]
    rows[0][1] = "Vetoed"  # refused by the everyhook plugin's crm_validate_record
    rows[2][2] = "P0@example.com"  # takes row 0's address: created, since row 0 is not
    rows[3][2] = "p0@EXAMPLE.com"  # a duplicate of row 2, which is
    calls = counted_creates(monkeypatch)
    path = write(tmp_path / "vetoed.csv", rows)
    result = import_file(crm, Access.system(), path, ImportOptions(entity="contacts"))
    assert (result.created, result.skipped, result.rejected) == (3, 1, 1)
    with open(result.report_path, encoding="utf-8-sig", newline="") as fh:
        report = list(csv.reader(fh))
    assert [r[0] for r in report[1:]] == ["2"] and "Vetoed by" in report[1][1]
    created = crm.session.execute(select(Contact.last_name, Contact.email).order_by(Contact.id))
    assert list(created) == [
        ("L1", "p1@example.com"),
        ("L2", "p0@example.com"),
        ("L4", "p4@example.com"),
    ]
    # the first attempt in one piece (rows 0, 1, 4), then the batch again in file order: rows
    # 0 and 1 before row 2 (a single row goes through ``create``)
    assert calls == [("contact", 3), ("contact", 2)]
    fingerprints = crm.session.scalars(select(ImportedRow.record_id)).all()
    assert len(fingerprints) == 3
    again = import_file(crm, Access.system(), path, ImportOptions(entity="contacts"))
    # nothing created again; row 0's address is now row 2's record's: skipped before the veto
    assert (again.created, again.skipped, again.rejected) == (0, 5, 0)
