"""The fast paths of a batch's audit rows and search documents against the general ones, on
generated awkward input: the same stored value (the audit's JSON, written by orjson, is
compact text: it must read back and re-encode to the general path's text byte for byte), the
same search text byte for byte."""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import json
import random
import unicodedata
import uuid
from typing import Any

import pytest
from sqlalchemy import text

from crmcore import audit
from crmcore.audit import changes_json, record_audit, record_audit_many
from crmcore.search import _titles, document_text, normalise

#: words that break naive shortcuts: accents precomposed and not, marks first, ligatures,
#: final sigma, dotted I, sharp s, wide forms, a lone accent that decomposes to a space
WORDS = [
    "José",
    "Jose\u0301",
    "\u0301\u0327x",
    "a\u0301\u0327b",
    "ΟΔΟΣ",
    "İstanbul",
    "Straße",
    "ẞ",
    "ﬁn",
    "ﾊﾝｶｸ",
    "東京",
    "한국",
    "\u00b4",  # an acute accent alone: NFKD makes it a space and a combining mark
    "Ærø",
    "MÁLAGA",
    "plain",
    "UPPER",
    "",
    " spaced ",
    '"quoted" \\ back',
    "tab\there\nline",
    "{braces}",
    "emoji 😀",
    "x" * 5000,
    "ñ" * 3000,
]


class Colour(enum.Enum):
    RED = "red"


class Level(str, enum.Enum):  # noqa: UP042 - its str content ("1") is not its value (1)
    ONE = 1  # type: ignore[assignment]


class Count(enum.IntEnum):
    TWO = 2


class Name(str):
    pass


def _values(rnd: random.Random) -> list[Any]:
    return [
        None,
        True,
        False,
        0,
        -(2**70),
        1.5,
        float("nan"),
        float("inf"),
        1e300,
        decimal.Decimal("1.10"),
        decimal.Decimal("-0.000"),
        dt.date(2026, 1, 2),
        dt.datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=dt.UTC),
        dt.datetime(2026, 1, 2, 3, 4, 5),
        dt.time(23, 59),
        uuid.UUID(int=rnd.getrandbits(128)),
        Colour.RED,
        Level.ONE,
        Count.TWO,
        Name("sub"),
        {"nested": [1, dt.date(2026, 1, 2)], "k": {"deep": None}},
        {1: "int key", None: "none key"},
        {True: "bool key", 2.5: "float key"},
        {Level.ONE: "enum key"},
        [],
        [rnd.choice(WORDS) for _ in range(rnd.randint(1, 4))],
        ("tuple", 1, None),
        ["list", [1, "nested"], {"a": 1}],
        [dt.date(2026, 3, 4), decimal.Decimal("2")],
        [Colour.RED],
        {"a", "b"} if rnd.random() < 0.5 else {1},
        rnd.choice(WORDS),
        rnd.choice(WORDS) + rnd.choice(WORDS),
    ]


def _changes(rnd: random.Random) -> dict[str, tuple[Any, Any]]:
    names = ["first_name", "tags", "custom_fields.level", "amount", "token", "password_hash"]
    names += [f"f{i}" for i in range(8)] + ["José", "{"]
    values = _values(rnd)
    flat = [v for v in values if type(v) in (str, int, type(None), list)]
    pick = flat if rnd.random() < 0.5 else values
    return {
        name: (rnd.choice(pick), rnd.choice(pick))
        for name in rnd.sample(names, k=rnd.randint(0, 6))
    }


def _general(changes: dict[str, tuple[Any, Any]]) -> str:
    return json.dumps(audit._safe(changes))


def _canonical(stored: str) -> str:
    """JSON text as ``json.dumps`` writes the value it holds."""
    return json.dumps(json.loads(stored))


def _same_or_both_fail(changes: dict[str, tuple[Any, Any]]) -> None:
    try:
        expected = _general(changes)
    except (TypeError, ValueError) as exc:
        with pytest.raises(type(exc)):
            changes_json(changes)
    else:
        assert _canonical(changes_json(changes)) == expected, changes


def test_the_json_of_changes_is_the_general_paths_for_generated_values():
    rnd = random.Random(19)
    for _ in range(3000):
        _same_or_both_fail(_changes(rnd))
    for value in _values(rnd):  # each kind alone, before and after
        _same_or_both_fail({"field": (value, None)})
        _same_or_both_fail({"field": (None, value)})
        _same_or_both_fail({"password_hash": (value, value), "field": (value, value)})


def test_flat_changes_take_the_fast_path_and_the_others_the_general(monkeypatch):
    def refused(changes: Any) -> Any:
        raise AssertionError("general path")

    monkeypatch.setattr(audit, "_safe", refused)
    flat = {
        "first_name": (None, "José"),
        "tags": (None, ["vip", "ñ"]),
        "born": (None, dt.date(2000, 1, 2)),
        "amount": (None, decimal.Decimal("1.50")),
        "score": (None, 3),
    }
    assert json.loads(changes_json(flat))["born"] == [None, "2000-01-02"]
    # written by orjson: compact, and the characters past ASCII as they are
    assert changes_json({"name": (None, "José")}) == '{"name":[null,"José"]}'
    # what orjson refuses or writes otherwise takes the standard library's encoder
    assert json.loads(changes_json({"n": (None, 2**70)})) == {"n": [None, 2**70]}
    assert changes_json({"n": (None, float("nan"))}) == '{"n": [null, NaN]}'
    assert changes_json({"s": (None, ["\ud800"])}) == '{"s": [null, ["\\ud800"]]}'
    for other in (
        {"password_hash": (None, "x")},
        {"custom": (None, {"a": 1})},
        {"colour": (None, Colour.RED)},
        {"level": (None, Level.ONE)},
        {"name": (None, Name("x"))},
        {"tags": (None, [Count.TWO])},
        {"tags": (None, [["nested"]])},
    ):
        with pytest.raises(AssertionError, match="general path"):
            changes_json(other)


def test_a_batchs_texts_hold_what_changes_json_gives_each(monkeypatch):
    """The batch path (orjson, checks for the whole batch) against ``changes_json`` record by
    record, on generated batches: NaN and infinities (which orjson writes as null), nested
    ``None``, the word null in a value, integers past 64 bits, enums, subclasses, secrets."""
    rnd = random.Random(23)
    for _ in range(300):
        batch = [_changes(rnd) for _ in range(rnd.randint(1, 12))]
        if rnd.random() < 0.3:
            batch.append({"email": (None, "null@example.com"), "n": (None, float("nan"))})
        try:
            expected = [_canonical(changes_json(changes)) for changes in batch]
        except (TypeError, ValueError) as exc:
            with pytest.raises(type(exc)):
                audit._batch_texts(batch)
            continue
        assert [_canonical(t) for t in audit._batch_texts(batch)] == expected, batch
    # a batch of new records' flat values is written by orjson, none by the general path
    calls: list[Any] = []
    monkeypatch.setattr(audit, "changes_json", lambda changes: calls.append(changes) or "")
    flat = [{"first_name": (None, "Ana"), "tags": (None, ["a"]), "n": (None, 2)}] * 50
    assert (
        audit._batch_texts(flat)[0]
        == '{"first_name":[null,"Ana"],"tags":[null,["a"]],"n":[null,2]}'
    )
    assert calls == []
    audit._batch_texts([{"n": (None, float("inf"))}, {"s": (None, "a null word")}])
    assert calls == [{"n": (None, float("inf"))}, {"s": (None, "a null word")}]


def _stored_changes(crm: Any, ids: list[int]) -> list[str]:
    column = "changes::text" if crm.engine.dialect.name == "postgresql" else "changes"
    rows = crm.session.execute(
        text(f"SELECT id, {column} FROM core_audit WHERE id IN ({', '.join(map(str, ids))})")
    ).all()
    return [t for _id, t in sorted(rows)]


def test_batch_audit_rows_store_what_the_one_row_path_stores(crm):
    rnd = random.Random(7)
    session = crm.session
    entries = []
    for i in range(120):
        changes = _changes(rnd)
        try:  # NaN and infinities: PostgreSQL's jsonb takes neither, on either path
            json.dumps(audit._safe(changes), allow_nan=False)
        except (TypeError, ValueError):
            continue  # the one-row path cannot store them either
        entries.append(("contact", 10_000 + i, "create", None, changes))
    before = session.execute(text("SELECT coalesce(max(id), 0) FROM core_audit")).scalar_one()
    for entity, record_id, action, user_id, changes in entries:
        record_audit(session, entity, record_id, action, user_id, changes)
    session.flush()
    middle = session.execute(text("SELECT max(id) FROM core_audit")).scalar_one()
    record_audit_many(session, entries)
    last = session.execute(text("SELECT max(id) FROM core_audit")).scalar_one()
    one_by_one = _stored_changes(crm, list(range(before + 1, middle + 1)))
    batched = _stored_changes(crm, list(range(middle + 1, last + 1)))
    assert len(one_by_one) == len(batched) == len(entries)
    assert list(map(_canonical, batched)) == list(map(_canonical, one_by_one))
    session.rollback()


def _old_normalise(value: str) -> str:
    if value.isascii():
        return value.lower()
    decomposed = unicodedata.normalize("NFKD", value)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _contact(records: Any, rnd: random.Random) -> Any:
    entity = records.entity("contacts")
    record = entity.model()
    for name in (*entity.search_fields, *entity.title_fields):
        if name in ("tags", "id"):
            continue
        setattr(record, name, rnd.choice([*WORDS, None, ""]))
    record.tags = [rnd.choice(WORDS) for _ in range(rnd.randint(0, 3))]
    record.id = rnd.randint(1, 10**6)
    return record


def test_document_text_normalised_part_by_part_is_the_whole_text_normalised(records):
    entity = records.entity("contacts")
    rnd = random.Random(3)
    for _ in range(2000):
        record = _contact(records, rnd)
        values = [getattr(record, name) for name in entity.search_fields]
        parts = [v for v in values if v] + list(record.tags)
        assert document_text(entity, record) == _old_normalise(" ".join(parts))
    for a in WORDS:  # every pair of words on either side of the separator
        for b in WORDS:
            assert " ".join([normalise(a), normalise(b)]) == _old_normalise(f"{a} {b}")


def test_batch_titles_are_the_entitys_display(crm, records):
    rnd = random.Random(5)
    for entity in crm.registry:
        titles = _titles(entity)
        if entity.translated_titles:
            assert titles is None
            continue
        assert titles is not None
        for _ in range(50):
            record = entity.model()
            for name in entity.title_fields:
                value = rnd.choice([*WORDS, None, "", 0, 7, "  "])
                try:
                    setattr(record, name, value)
                except (TypeError, ValueError, AttributeError):
                    continue
            record.id = rnd.randint(1, 1000)
            assert titles(record) == entity.display(record)


def test_a_batch_stores_the_documents_the_one_record_path_stores(crm, records):
    rnd = random.Random(11)
    rows = []
    for _ in range(40):
        row = {
            "first_name": rnd.choice([w for w in WORDS if w.strip()])[:100],
            "last_name": rnd.choice([w for w in WORDS if w.strip()])[:100],
            "city": rnd.choice(WORDS)[:100] if rnd.random() < 0.8 else None,
            "tags": [t for t in rnd.sample(["VIP", "b2b", "Ñandú", "İ"], k=2)],
        }
        rows.append(row)
    batch = records.create_many("contacts", rows)
    single = [records.create("contacts", dict(row)) for row in rows]

    def documents(made: list[Any]) -> list[tuple[str, str]]:
        found = dict(
            crm.session.execute(
                text(
                    "SELECT record_id, title || '|' || body FROM core_search_doc "
                    "WHERE entity = 'contact' AND record_id IN "
                    f"({', '.join(str(r.id) for r in made)})"
                )
            ).all()
        )
        return [found[r.id] for r in made]

    assert documents(batch) == documents(single)
