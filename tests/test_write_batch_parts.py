"""The parts of the batched write path that must store what the one-record path stores:
bind processors applied column by column, the audit log's safe form of changes, the search
document text, the import's row fingerprints."""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import hashlib
import json
import random
import uuid

import pytest
from sqlalchemy import select, text

from crmcore.audit import _safe, jsonable
from crmcore.bulk_insert import bound_column
from crmcore.db import json_list, json_values
from crmcore.importing.converting import RowConverter
from crmcore.importing.mapping import FieldSet, map_columns
from crmcore.instances import loaded, loaded_ids
from crmcore.search import document_text


def test_a_column_sharing_one_object_is_processed_once_and_others_per_value():
    calls: list[object] = []

    def process(value):
        calls.append(value)
        return json.dumps(value)

    stamp = dt.datetime(2026, 1, 1)
    assert bound_column(str, [stamp] * 5) == ["2026-01-01 00:00:00"] * 5
    shared = ["a"]
    assert bound_column(process, [shared, shared, shared]) == ['["a"]'] * 3
    assert calls == [["a"]]
    calls.clear()
    # equal but not the same object: each is processed (True == 1, but JSON tells them apart)
    assert bound_column(process, [True, 1, 1.0]) == ["true", "1", "1.0"]
    assert len(calls) == 3
    assert bound_column(None, (1, 2)) == (1, 2)
    assert bound_column(process, []) == []


class Colour(enum.Enum):
    RED = "red"


def _old_safe(changes):
    """The audit log's form of changes as it was written before batching (the reference)."""
    from crmcore.audit import SECRET_FIELDS

    return {
        (name.removesuffix("_hash") if name in SECRET_FIELDS else name): (
            ["***", "***"] if name in SECRET_FIELDS else [jsonable(b), jsonable(a)]
        )
        for name, (b, a) in changes.items()
    }


def test_the_safe_form_of_changes_is_unchanged_for_every_kind_of_value():
    changes = {
        "first_name": (None, "José"),
        "tags": ([], ["vip", "b2b"]),
        "custom_fields.level": (None, {"nested": [1, dt.date(2026, 1, 2)]}),
        "amount": (decimal.Decimal("1.10"), decimal.Decimal("2.5")),
        "at": (None, dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)),
        "colour": (Colour.RED, None),
        "key": (None, uuid.UUID(int=7)),
        "flag": (False, True),
        "ratio": (0.5, 1),
        "password_hash": ("old", "new"),
        "token": (None, "secret value"),
    }
    safe = _safe(changes)
    assert safe == _old_safe(changes)
    assert json.dumps(safe) == json.dumps(_old_safe(changes))  # the same stored text, in order
    assert safe["password"] == ["***", "***"] and "password_hash" not in safe
    assert "secret value" not in json.dumps(safe)


def test_document_text_reads_loaded_and_expired_values_alike(crm, records):
    entity = records.entity("contacts")
    contact = records.create(
        "contacts",
        {"first_name": "Zoë", "last_name": "Núñez", "city": "Málaga", "tags": ["VIP", "b2b"]},
    )
    loaded = document_text(entity, contact)
    crm.session.expire(contact)  # nothing in the instance's dict: read through the ORM
    assert document_text(entity, contact) == loaded
    assert "zoe nunez" in loaded and "malaga" in loaded and "vip b2b" in loaded


def test_loaded_ids_and_values_read_expired_records_through_the_orm(crm, records):
    """A batch reads its records' ids and values from their dicts; a record whose values are
    not loaded (expired after a commit) is read through the attributes, which load it."""
    first = records.create("contacts", {"first_name": "Ana", "city": "Sevilla"})
    second = records.create("contacts", {"first_name": "Eva", "city": "Cádiz"})
    ids = [first.id, second.id]
    crm.session.expire(second)
    assert "id" not in second.__dict__
    assert loaded_ids([first, second]) == ids
    crm.session.expire(first)
    assert loaded(first, "city") == "Sevilla" and loaded(first, "no_such_field") is None


def test_row_fingerprints_keep_their_formula_so_old_imports_stay_idempotent(crm, records):
    """A file imported by an earlier version is recognised row for row: the row's digest
    is the SHA-256 of ``json.dumps([entity, cells], sort_keys=True, ensure_ascii=False)``."""
    entity = records.entity("contacts")
    fields = FieldSet.of(entity, [], True)
    header = ["First name", "Last name", "E-mail", "Tags", "Company", "Email opt out"]
    columns = map_columns(header, fields, None)
    converter = RowConverter(fields, columns.targets)
    row = converter.convert(2, ["José", " Núñez ", "j@example.com", "a; b", "Sol S.L.", "sí"])
    canonical = {
        t: v.strip()
        for t, v in zip(
            columns.targets, ["José", " Núñez ", "j@example.com", "a; b", "Sol S.L.", "sí"]
        )
        if t is not None
    }
    expected = hashlib.sha256(
        json.dumps(["contact", canonical], sort_keys=True, ensure_ascii=False).encode()
    ).hexdigest()
    assert row.digest == expected
    assert row.data["tags"] == ["a", "b"] and row.company == "Sol S.L."
    assert row.data["email_opt_out"] is True and row.data["last_name"] == "Núñez"


def test_row_fingerprints_keep_their_formula_on_a_generated_corpus(crm, records):
    """The text a row's fingerprint hashes stays ``json.dumps``'s character for character
    (a file imported by an earlier version is recognised row for row): for any values, blank
    cells (left out), quoted formulas (unquoted) and columns in any order."""
    entity = records.entity("contacts")
    fields = FieldSet.of(entity, [], True)
    header = ["City", "Tags", "E-mail", "Last name", "Title", "First name", "Description"]
    columns = map_columns(header, fields, None)
    converter = RowConverter(fields, columns.targets)
    #: characters JSON escapes or that differ between encoders, formula starts, separators
    alphabet = ['"', "\\", "/", "\n", "\t", "\x00", "\x1f", "é", "ñ", "\u2028", "\u2029",
                "😀", " ", "a", ";", "'", "=", "+", "{", ":", ","]  # fmt: skip
    rnd = random.Random(3)
    for line in range(500):
        cells = ["".join(rnd.choices(alphabet, k=rnd.randint(0, 8))) for _ in header]
        row = converter.convert(line, cells)
        canonical = {t: unquote(c) for t, c in zip(columns.targets, cells) if t and c.strip()}
        hashed = json.dumps(["contact", canonical], sort_keys=True, ensure_ascii=False)
        assert row.digest == hashlib.sha256(hashed.encode()).hexdigest(), cells


def unquote(cell: str) -> str:
    """The export's formula neutralisation undone (``'=1+2`` -> ``=1+2``), trimmed."""
    value = cell.strip()
    return (
        value[1:] if value[:1] == "'" and value[1:2] in ("=", "+", "-", "@", "\t", "\r") else value
    )


def test_a_json_list_parameter_gives_back_each_value_as_it_was(crm):
    """A look-up's list travels as JSON text (orjson): the database reads back each value,
    quotes, backslashes and letters past ASCII included; what orjson refuses (an integer
    past 64 bits, a lone surrogate) is written by the standard encoder instead."""
    values = ["é", 'a"b', "back\\slash", "line\u2028sep", "tab\tend", "😀", "plain"]
    listed = json_values("values", crm.engine.dialect.name)
    got = crm.session.scalars(select(listed.c.value), {"values": json_list(values)}).all()
    assert sorted(got) == sorted(values)
    assert json.loads(json_list([[7, "núñez"], [8, "x"]])) == [[7, "núñez"], [8, "x"]]
    assert json_list([2**70]) == json.dumps([2**70])
    assert json_list(["\ud800"]) == json.dumps(["\ud800"])


def _fts_ok(crm) -> None:
    """SQLite's own check that the full-text index holds exactly the documents' text."""
    crm.session.execute(
        text("INSERT INTO core_search_fts(core_search_fts) VALUES('integrity-check')")
    )


def _paused(crm) -> int:
    return crm.session.execute(text("SELECT count(*) FROM core_search_fts_paused")).scalar_one()


def _sqlite(crm) -> None:
    if crm.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's full-text trigger (PostgreSQL's tsvector is a generated column)")


def _found(crm, records, words: str) -> list[int]:
    entity = records.entity("contacts")
    return sorted(crm.session.scalars(crm.search.record_ids(entity, words)))


def test_a_batch_indexes_its_documents_at_once_and_the_trigger_resumes(crm, records):
    _sqlite(crm)
    first = records.create_many("contacts", [{"last_name": f"Uno{i} Lote"} for i in range(5)])
    second = records.create_many("contacts", [{"last_name": f"Dos{i} Lote"} for i in range(5)])
    assert _paused(crm) == 0
    _fts_ok(crm)
    assert _found(crm, records, "lote") == sorted(r.id for r in first + second)
    entries = crm.session.execute(
        text("SELECT rowid FROM core_search_fts WHERE core_search_fts MATCH 'lote'")
    ).scalars()
    assert sorted(entries) == sorted(r.id for r in first + second)
    # each indexed once: a second entry (the last document before the second batch is the
    # one at risk) would survive the change as a ghost
    records.update("contacts", first[-1], {"last_name": "Renombrado"})
    assert _found(crm, records, "uno4") == []
    assert _found(crm, records, "dos3") == [second[3].id]
    alone = records.create("contacts", {"last_name": "Suelto"})  # the trigger is back
    assert _found(crm, records, "suelto") == [alone.id]
    records.update("contacts", alone, {"last_name": "Cambiado"})
    assert _found(crm, records, "suelto") == [] and _found(crm, records, "cambiado") == [alone.id]
    _fts_ok(crm)


def test_a_replaced_document_of_a_reused_id_is_indexed_once(crm, records):
    """A document left behind under an id SQLite hands out again is replaced (the upsert's
    update trigger indexes it); the batch's own index statement must not add it twice."""
    _sqlite(crm)
    made = records.create_many("contacts", [{"last_name": "Viejo"}, {"last_name": "Otro"}])
    crm.session.execute(text("DELETE FROM core_contact WHERE id = :id"), {"id": made[1].id})
    crm.session.commit()  # the document of the deleted row stays behind
    again = records.create_many("contacts", [{"last_name": "Nuevo"}, {"last_name": "Mas"}])
    assert made[1].id in {r.id for r in again}  # the id came back
    _fts_ok(crm)
    assert _found(crm, records, "otro") == []
    assert _found(crm, records, "nuevo") == [again[0].id]


def test_a_failed_document_insert_leaves_the_trigger_running(crm, records, monkeypatch):
    _sqlite(crm)
    from crmcore.search import SearchIndex

    records.create("contacts", {"last_name": "Primero"})

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(SearchIndex, "_insert_documents", staticmethod(broken))
    with pytest.raises(RuntimeError):
        records.create_many("contacts", [{"last_name": "Roto"}, {"last_name": "Tambien"}])
    assert _paused(crm) == 0
    crm.session.rollback()
    monkeypatch.undo()
    alone = records.create("contacts", {"last_name": "Despues"})
    assert _found(crm, records, "despues") == [alone.id]
    _fts_ok(crm)


def test_documents_near_the_rowid_limit_are_indexed_by_the_trigger(crm, records):
    """Past the largest rowid SQLite picks free ids at random, so "ids above the largest"
    would miss some: the batch keeps the per-row trigger then."""
    _sqlite(crm)
    crm.session.execute(
        text(
            "INSERT INTO core_search_doc (id, entity, record_id, owner_id, title, body) "
            "VALUES (9223372036854775806, 'note', 1, NULL, 'x', 'limite')"
        )
    )
    made = records.create_many("contacts", [{"last_name": f"Azar{i}"} for i in range(4)])
    assert _paused(crm) == 0
    for i, record in enumerate(made):
        assert _found(crm, records, f"azar{i}") == [record.id]
    _fts_ok(crm)


def _old_normalise(value: str) -> str:
    """Search's normal form as documents were stored before (the reference)."""
    import unicodedata

    if value.isascii():
        return value.lower()
    decomposed = unicodedata.normalize("NFKD", value)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


@pytest.mark.parametrize(
    "value",
    [
        "José Núñez",
        "MÁLAGA Logística",
        "Ærø ß ﬁ ẞ",
        "İstanbul ǰ",
        "東京 ﾊﾝｶｸ",
        "a\u0301\u0327b",
        "x",
    ],
)
def test_search_text_is_normalised_as_before(value):
    from crmcore.search import normalise

    assert normalise(value) == _old_normalise(value)
    assert normalise(value) == normalise(value)  # from the filled table, the same again


def throwaway_table(crm, table: str, **columns):
    """A table of ``columns`` (rolled back with the test): its connection, insert plan and the
    plan's order of attributes."""
    from types import SimpleNamespace

    from sqlalchemy import MetaData
    from sqlalchemy.orm import DeclarativeBase

    from crmcore.bulk_insert import insert_plan

    class Base(DeclarativeBase):
        metadata = MetaData()

    model = type("Thing", (Base,), {"__tablename__": table, **columns})
    conn = crm.session.connection()
    Base.metadata.create_all(conn)
    plan = insert_plan(SimpleNamespace(model=model))
    assert plan is not None
    return conn, plan, [key for key, *_ in plan.columns]


@pytest.mark.parametrize("always", [False, True], ids=["copied", "ids the table gives"])
def test_an_array_column_keeps_its_arrays_on_postgresql(crm, always):
    """PostgreSQL copies a batch (arrays written as arrays); a table that gives its own ids
    inserts it from one array per column (``unnest``), which would flatten a column that is
    an array itself: such a table takes the ``VALUES`` list."""
    if crm.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's array columns")
    from sqlalchemy import ARRAY, Column, Identity, Integer, String

    from crmcore.bulk_insert import insert_rows

    conn, plan, order = throwaway_table(
        crm,
        "test_bulk_thing",
        id=Column(Integer, *([Identity(always=True)] if always else []), primary_key=True),
        name=Column(String(20), nullable=False),
        nums=Column(ARRAY(Integer)),
    )
    wanted = [("a", [1, 2]), ("b", None), ("c", [3])]
    rows = [[dict(name=n, nums=v)[key] for key in order] for n, v in wanted]
    ids = insert_rows(conn, plan, rows)
    stored = dict(conn.exec_driver_sql("SELECT id, nums FROM test_bulk_thing").all())
    assert [stored[i] for i in ids] == [v for _n, v in wanted]


def test_json_columns_store_remembered_values_exactly_as_the_serialiser_does(monkeypatch):
    import random

    from sqlalchemy import JSON

    from crmcore import bulk_insert

    calls: list[object] = []

    def process(value):
        calls.append(value)
        return json.dumps(value)

    monkeypatch.setattr(bulk_insert, "MEMO_SIZE", 50)
    processed = bulk_insert._empty_once(JSON(), process)
    assert processed is not None

    class Tag(str):
        pass

    rnd = random.Random(19)
    words = ["vip", "lead", "é", '"q"', "", "1", "true"]
    corpus: list[object] = [
        [],
        {},
        ["vip"],
        ["vip", "lead"],
        ["lead", "vip"],
        [True],
        [1],
        [1.0],
        ["1"],
        [Tag("vip")],
        [["vip"]],
        [None],
        {"level": "gold"},
        {"level": True},
        {"level": 1},
        {"a": "1", "b": "2"},
        {"b": "2", "a": "1"},
        {"level": ["gold"]},
        {"level": None},
        ["a"] * 9,
        {str(i): "x" for i in range(9)},
        None,
        "text",
        3,
    ]
    corpus += [rnd.sample(words, k=rnd.randint(0, 3)) for _ in range(300)]
    corpus += [{w: rnd.choice(words) for w in rnd.sample(words, k=2)} for _ in range(300)]
    for _round in range(2):  # the second round reads what the first remembered
        for value in corpus:
            assert processed(value) == json.dumps(value), value
    # remembered: a repeated plain-string value is serialised once, others every time
    calls.clear()
    for value in (["vip", "lead"], {"level": "gold"}, [True], [1], {"level": 1}):
        processed(value)
    assert calls == [[True], [1], {"level": 1}]
    # bounded: past MEMO_SIZE values are serialised each time and still stored right
    calls.clear()
    fresh = [[f"new {i}"] for i in range(60)]
    assert [processed(v) for v in fresh] == [json.dumps(v) for v in fresh]
    assert [processed(v) for v in fresh] == [json.dumps(v) for v in fresh]
    assert len(calls) == 120


def test_copied_json_columns_are_written_as_the_drivers_text_once_per_stored_form(crm, monkeypatch):
    """PostgreSQL copies a batch's JSON values as the text psycopg would write for them
    (``json`` keeps that text, ``jsonb`` its value), made once per remembered form."""
    if crm.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's COPY")
    from sqlalchemy import JSON, Column, Integer
    from sqlalchemy.dialects.postgresql import JSONB
    from sqlalchemy.exc import DBAPIError

    from crmcore import bulk_insert

    conn, plan, order = throwaway_table(
        crm,
        "test_bulk_json",
        id=Column(Integer, primary_key=True),
        kept=Column(JSON),  # PostgreSQL's json: the text as written
        doc=Column(JSONB),
    )
    values = [["vip"], ["vip"], [], {}, {"level": "gold"}, ["é", '"q"'], {"n": [1, 2.5, None]}]
    values += [None, "text", 3, [True]] + [["vip"]] * 20
    copied: list[tuple] = []
    copy = bulk_insert._copy
    monkeypatch.setattr(
        bulk_insert, "_copy", lambda c, t, n, rows: (copied.extend(rows), copy(c, t, n, rows))
    )
    dumped: list[object] = []
    dumps = json.dumps
    monkeypatch.setattr(bulk_insert.json, "dumps", lambda v, **k: (dumped.append(v), dumps(v))[1])
    rows = [[dict(kept=v, doc=v)[key] for key in order] for v in values]
    ids = bulk_insert.insert_rows(conn, plan, rows)
    monkeypatch.undo()
    assert all(type(v) is str for row in copied for v in row[1:])  # text, not wrappers
    # ["vip"] twice per column, then remembered: serialised once per column
    assert sum(v == ["vip"] for v in dumped) == 2
    stored = {
        i: (kept, doc)
        for i, kept, doc in conn.exec_driver_sql("SELECT id, kept::text, doc FROM test_bulk_json")
    }
    for record_id, value in zip(ids, values, strict=True):
        assert stored[record_id] == (json.dumps(value), value), value
    with pytest.raises(DBAPIError), conn.begin_nested():  # NaN is no JSON: refused, as before
        bulk_insert.insert_rows(conn, plan, [[dict(kept=[float("nan")], doc=[])[k] for k in order]])
