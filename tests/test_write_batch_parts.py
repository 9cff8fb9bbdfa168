"""The parts of the batched write path that must store what the one-record path stores:
bind processors applied column by column, the audit log's safe form of changes, the search
document text, the import's row fingerprints."""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import hashlib
import json
import uuid

from crmcore.audit import _safe, jsonable
from crmcore.bulk_insert import bound_column
from crmcore.importing.converting import RowConverter
from crmcore.importing.mapping import FieldSet, map_columns
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


def test_row_fingerprints_keep_their_formula_so_old_imports_stay_idempotent(crm, records):
    """A file imported by an earlier version is recognised row for row: the fingerprint is
    the SHA-256 of ``json.dumps([entity, cells], sort_keys=True, ensure_ascii=False)``."""
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
    assert row.fingerprint == expected
    assert row.data["tags"] == ["a", "b"] and row.company == "Sol S.L."
    assert row.data["email_opt_out"] is True and row.data["last_name"] == "Núñez"
