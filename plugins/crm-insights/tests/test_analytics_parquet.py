"""``crm insights export --format parquet``: typed columns from the entity's fields, incremental
by cursor with deletes as JSON Lines, idempotent re-runs, and a clear error without pyarrow."""

from __future__ import annotations

import datetime as dt
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

pytestmark = pytest.mark.crm_plugins("sales", "insights")


def run(cli: Any, out: Path, since: str = "", entities: str = "deals,contacts") -> str:
    args = ["insights", "export", "-o", str(out), "--entities", entities, "--format", "parquet"]
    if since:
        args += ["--since", since]
    result = cli(*args)
    assert result.exit_code == 0, result.output
    return str(result.output.strip().splitlines()[-1])


def read(out: Path, prefix: str) -> Any:
    [path] = sorted(out.glob(f"{prefix}-*.parquet"))
    return pq.read_table(path)


def test_columns_are_typed_from_the_entity_fields(cli, api, make_deal, tmp_path):
    deal = make_deal("Big € deal", "1234.50", close_date="2026-04-30", tags=["vip", "q2"])
    run(cli, tmp_path)
    table = read(tmp_path, "deals")
    schema = table.schema
    assert schema.field("id").type == pa.int64() and not schema.field("id").nullable
    assert schema.field("amount").type == pa.decimal128(14, 2)
    assert schema.field("close_date").type == pa.date32()
    assert schema.field("created_at").type == pa.timestamp("us", tz="UTC")
    assert schema.field("updated_at").type == pa.timestamp("us", tz="UTC")
    assert schema.field("title").type == pa.string()
    assert schema.field("tags").type == pa.list_(pa.string())
    [row] = table.to_pylist()
    dumped = api.get(f"/api/v1/deals/{deal.id}").json
    assert row["id"] == deal.id and row["title"] == "Big € deal"
    assert row["amount"] == Decimal("1234.50")
    assert row["close_date"] == dt.date(2026, 4, 30)
    assert row["updated_at"] == dt.datetime.fromisoformat(dumped["updated_at"])
    assert row["updated_at"].tzinfo is not None
    assert row["tags"] == ["vip", "q2"]
    # every field of the API is a column, in the API's order
    assert schema.names == list(dumped)


def test_incremental_with_deletes_and_idempotent(cli, records, make_deal, make_contact, tmp_path):
    ada = make_contact(first_name="Ada", last_name="Lovelace")
    gone = make_deal("Gone")
    first = run(cli, tmp_path / "1")
    assert read(tmp_path / "1", "deals").num_rows == 1
    records.update("contacts", ada.id, {"title": "Analyst"})
    records.delete("deals", gone.id)
    new = make_deal("New", "10.00")
    again = [run(cli, tmp_path / "2", first) for _ in range(2)]
    assert again[0] == again[1]
    files = {p.name: p.read_bytes() for p in (tmp_path / "2").iterdir()}
    assert len(files) == 4  # deals, contacts, deletes, cursor: overwritten, not added
    assert [r["id"] for r in read(tmp_path / "2", "deals").to_pylist()] == [new.id]
    [contact] = read(tmp_path / "2", "contacts").to_pylist()
    assert (contact["id"], contact["title"]) == (ada.id, "Analyst")
    deletes = read(tmp_path / "2", "deletes")
    assert deletes.schema.field("at").type == pa.timestamp("us", tz="UTC")
    assert [(r["op"], r["entity"], r["id"]) for r in deletes.to_pylist()] == [
        ("delete", "deals", gone.id)
    ]
    # the same cursor again: the same bytes
    run(cli, tmp_path / "2", first)
    assert {p.name: p.read_bytes() for p in (tmp_path / "2").iterdir()} == files
    # nothing changed since the last run: empty files that still carry the schema
    run(cli, tmp_path / "3", again[0])
    empty = read(tmp_path / "3", "deals")
    assert empty.num_rows == 0 and empty.schema.field("amount").type == pa.decimal128(14, 2)


def test_without_pyarrow_the_error_names_the_extra(cli, make_deal, tmp_path, monkeypatch):
    make_deal("Deal")
    for name in [m for m in sys.modules if m == "pyarrow" or m.startswith("pyarrow.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # what an absent package imports as
    result = cli("insights", "export", "-o", str(tmp_path), "--format", "parquet")
    assert result.exit_code == 1
    assert "crm-insights[parquet]" in result.output and "pyarrow" in result.output
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


def test_schema_command_lists_the_columns(cli):
    result = cli("insights", "schema", "--entities", "deals")
    assert result.exit_code == 0, result.output
    assert "deals:" in result.output
    assert "  amount: decimal128(14, 2)" in result.output
    assert "  close_date: date32[day]" in result.output
    result = cli("insights", "schema", "--entities", "nonsense")
    assert result.exit_code == 1 and "nonsense" in result.output
