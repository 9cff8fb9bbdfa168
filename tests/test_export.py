"""Streaming export: permission scope, formula neutralisation, custom fields, batches."""

from __future__ import annotations

import csv
import io
import json

import pytest
from sqlalchemy import event, select

from crmcore.contacts.models import Contact
from crmcore.exporting import columns_of, csv_chunks, iter_records
from crmcore.permissions import Access
from crmcore.users.models import Role


def parse(body: bytes) -> list[dict[str, str]]:
    text = body.decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text[1:])))


def allow_export(crm, role_name: str) -> None:
    role = crm.session.scalar(select(Role).where(Role.name == role_name))
    crm.records().update("roles", role, {"permissions": ["data.export"]})


def test_sales_rep_exports_only_own_contacts(crm, make_user, make_contact, api_as, cli):
    rep, other = make_user("sales_rep"), make_user("sales_rep")
    mine = [make_contact(owner_id=rep.id) for _ in range(3)]
    make_contact(owner_id=other.id)
    make_contact()
    client = api_as(rep)
    assert client.get("/api/v1/contacts/export").status_code == 403  # no data.export yet
    allow_export(crm, "sales_rep")
    r = client.get("/api/v1/contacts/export")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    assert [int(row["id"]) for row in parse(r.get_data())] == [c.id for c in mine]
    out = cli("export", "contacts", "--as", rep.email)
    assert out.exit_code == 0
    assert len(parse(out.stdout_bytes)) == 3
    assert len(parse(cli("export", "contacts").stdout_bytes)) == 5
    assert client.get("/api/v1/users/export").status_code == 200  # reps read users
    assert client.get("/api/v1/roles/export").status_code == 403


def test_formulas_neutralised_custom_fields_and_tags(crm, records, make_contact, api):
    records.create(
        "custom_fields", {"entity": "contacts", "name": "level", "label": "Level", "type": "text"}
    )
    contact = make_contact(
        first_name='=HYPERLINK("http://x")',
        last_name="+1+2",
        title="-5",
        city="@SUM(A1)",
        description="\tx",
        source="\rboo",
        phone="+34 911 23 45 67",
        tags=["vip", "newsletter"],
        custom_fields={"level": "=1+1"},
    )
    make_contact(first_name="Plain", last_name="Name")
    rows = parse(api.get("/api/v1/contacts/export?format=csv").get_data())
    row = next(r for r in rows if int(r["id"]) == contact.id)
    assert row["first_name"] == '\'=HYPERLINK("http://x")'
    assert row["last_name"] == "'+1+2" and row["title"] == "'-5"
    assert row["city"] == "'@SUM(A1)" and row["description"] == "'\tx"
    assert row["source"] == "'\rboo" and row["phone"] == "'+34911234567"
    assert row["tags"] == "vip;newsletter" and row["custom.level"] == "'=1+1"
    assert "custom_fields" not in row and "version" not in row
    plain = next(r for r in rows if r["first_name"] == "Plain")
    assert plain["last_name"] == "Name" and plain["custom.level"] == ""


def test_export_round_trips_through_import(crm, make_contact, api, tmp_path):
    make_contact(first_name="=cmd", tags=["a", "b"], email="x@example.com")
    path = tmp_path / "out.csv"
    path.write_bytes(api.get("/api/v1/contacts/export").get_data())
    from crmcore.importing import ImportOptions, import_file

    result = import_file(
        crm, Access.system(), path, ImportOptions("contacts", on_duplicate="update")
    )
    assert (result.created, result.rejected, result.updated) == (0, 0, 0)
    assert "id" in result.ignored and "created_at" in result.ignored
    # the export's quote before a formula is taken off again: nothing changed
    assert crm.session.scalars(select(Contact.first_name)).all() == ["=cmd"]


def test_json_export(api, make_contact):
    a, b = make_contact(tags=["vip"]), make_contact()
    r = api.get("/api/v1/contacts/export?format=json")
    assert r.status_code == 200 and r.mimetype == "application/json"
    data = json.loads(r.get_data())
    assert [d["id"] for d in data] == [a.id, b.id]
    assert data[0]["tags"] == ["vip"] and data[0]["email"] == a.email
    assert api.get("/api/v1/contacts/export?format=xml").status_code == 422


def test_streamed_in_keyset_batches(crm, records, make_contact, api):
    ids = [make_contact().id for _ in range(7)]
    r = api.get("/api/v1/contacts/export")
    assert r.is_streamed
    service = crm.records()
    entity = crm.registry.get("contacts")
    statements: list[str] = []

    def remember(conn, cursor, statement, params, context, executemany):
        statements.append(statement)

    engine = crm.engine
    event.listen(engine, "before_cursor_execute", remember)
    try:
        chunks = csv_chunks(service, entity, batch=3)
        first = next(chunks)
        selects = [s for s in statements if "FROM core_contact" in s]
        assert len(selects) == 1  # only the first batch was read so far
        rest = list(chunks)
    finally:
        event.remove(engine, "before_cursor_execute", remember)
    selects = [s for s in statements if "FROM core_contact" in s]
    assert len(selects) == 3 and all("LIMIT" in s.upper() for s in selects)
    assert "core_contact.id >" in selects[1]
    body = b"".join([first, *rest])
    assert [int(r["id"]) for r in parse(body)] == ids
    assert len(rest) >= 2  # written out batch by batch
    got = [r["id"] for r in iter_records(service, entity, columns_of(service, entity), 2)]
    assert got == ids


def test_routes_do_not_collide(api, make_contact):
    contact = make_contact()
    assert api.get(f"/api/v1/contacts/{contact.id}").status_code == 200
    assert api.get("/api/v1/contacts/export").status_code == 200
    assert api.get("/api/v1/contact/export").status_code == 404
    assert api.get("/api/v1/nothing/export").status_code == 404
    spec = api.get("/api/v1/openapi.json").get_json()
    assert "/api/v1/{plural}/export" in spec["paths"]
    assert "/api/v1/imports" in spec["paths"]


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_cli_export_to_file(cli, make_contact, tmp_path, fmt):
    make_contact(first_name="Ana")
    target = tmp_path / f"out.{fmt}"
    result = cli("export", "contacts", str(target), "--format", fmt)
    assert result.exit_code == 0 and target.exists()
    assert "Ana" in target.read_text(encoding="utf-8-sig")
