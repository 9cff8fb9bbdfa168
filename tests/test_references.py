"""References: which fields refer to which entity, the check on every write (API, service,
import), titles on pages and `<field>_name` in exports."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from sqlalchemy import event

from crmcore.errors import ValidationError
from crmcore.importing import ImportOptions, import_file
from crmcore.permissions import Access
from crmcore.references import MISSING, ReferenceCheck, references
from crmcore.testing import assert_references_scoped
from crmcore.web.views import PICKER_LIMIT

ALL = ("sales", "support", "marketing", "kb")


def refs_of(crm, name):
    return {
        f: (r.target, r.type_field)
        for f, r in references(crm.records(), crm.registry.get(name)).items()
    }


@pytest.mark.crm_plugins(*ALL)
def test_declared_and_inferred_references(crm):
    assert refs_of(crm, "contact")["company_id"] == ("company", None)
    assert refs_of(crm, "contact")["owner_id"] == ("user", None)
    assert refs_of(crm, "note")["record_id"] == (None, "record_type")
    assert refs_of(crm, "task")["record_id"] == (None, "record_type")
    assert refs_of(crm, "campaign")["template_id"] == ("email_template", None)
    assert refs_of(crm, "campaign")["segment_id"] == ("segment", None)
    assert refs_of(crm, "ticket")["queue_id"] == ("support_queue", None)
    assert refs_of(crm, "ticket")["assignee_id"] == ("user", None)
    assert refs_of(crm, "ticket")["merged_into_id"] == ("ticket", None)
    article = refs_of(crm, "article")
    assert article["author_id"] == article["reviewer_id"] == ("user", None)
    assert article["translation_of_id"] == ("article", None)
    assert refs_of(crm, "quote")["deal_id"] == ("deal", None)


@pytest.mark.crm_plugins("loyalty")
def test_a_disabled_target_is_no_reference(crm):
    # the loyalty ledger's order_id points to sales orders only while sales is enabled
    assert refs_of(crm, "loyalty_entry")["contact_id"] == ("contact", None)
    assert "order_id" not in refs_of(crm, "loyalty_entry")


@pytest.mark.crm_plugins("loyalty", "sales")
def test_an_enabled_target_is_a_reference(crm):
    assert refs_of(crm, "loyalty_entry")["order_id"] == ("order", None)


# the write check -------------------------------------------------------------------------------


@pytest.fixture
def two_reps(make_user):
    return make_user("sales_rep"), make_user("sales_rep")


def test_core_field_refuses_another_reps_company(crm, api_as, two_reps):
    mine, theirs = two_reps
    their_company = crm.records(Access.for_user(theirs)).create("companies", {"name": "Theirs"})
    api = api_as(mine)
    response = api.post(
        "/api/v1/contacts", json={"first_name": "Ana", "company_id": their_company.id}
    )
    assert response.status_code == 422, response.json
    assert response.json["errors"] == {"company_id": [MISSING]}
    missing = api.post("/api/v1/contacts", json={"first_name": "Ana", "company_id": 987654})
    assert missing.status_code == 422 and "company_id" in missing.json["errors"]


@pytest.mark.crm_plugins("sales")
@pytest.mark.parametrize("plural", ["deals", "quotes"])
def test_plugin_field_refuses_another_reps_contact(crm, api_as, two_reps, plural):
    mine, theirs = two_reps
    their_contact = crm.records(Access.for_user(theirs)).create("contacts", {"first_name": "Bo"})
    my_contact = crm.records(Access.for_user(mine)).create("contacts", {"first_name": "Al"})
    api = api_as(mine)
    base = {"title": "Deal", "amount": "10", "currency": "EUR"} if plural == "deals" else {}
    refused = api.post(f"/api/v1/{plural}", json={**base, "contact_id": their_contact.id})
    assert refused.status_code == 422, refused.json
    assert list(refused.json["errors"]) == ["contact_id"]
    missing = api.post(f"/api/v1/{plural}", json={**base, "contact_id": 2_000_000_000})
    assert missing.status_code == 422 and "contact_id" in missing.json["errors"]
    accepted = api.post(f"/api/v1/{plural}", json={**base, "contact_id": my_contact.id})
    assert accepted.status_code == 201, accepted.json


@pytest.mark.crm_plugins("loyalty")
def test_plain_foreign_key_of_a_plugin_is_422_not_409(api, make_contact):
    contact = make_contact()
    ok = api.post(
        "/api/v1/loyalty_entries", json={"contact_id": contact.id, "points": 5, "reason": "Welcome"}
    )
    assert ok.status_code == 201, ok.json
    response = api.post(
        "/api/v1/loyalty_entries", json={"contact_id": 999_999, "points": 5, "reason": "Welcome"}
    )
    assert response.status_code == 422, response.json
    assert "contact_id" in response.json["errors"]


def test_update_keeps_a_reference_that_left_the_writers_scope(crm, api_as, two_reps):
    mine, theirs = two_reps
    company = crm.records().create("companies", {"name": "Shared", "owner_id": mine.id})
    contact = crm.records(Access.for_user(mine)).create(
        "contacts", {"first_name": "Cy", "company_id": company.id}
    )
    crm.records().update("companies", company, {"owner_id": theirs.id})
    api = api_as(mine)
    etag = api.get(f"/api/v1/contacts/{contact.id}").headers["ETag"]
    response = api.patch(
        f"/api/v1/contacts/{contact.id}", json={"phone": "+34600111222"}, headers={"If-Match": etag}
    )
    assert response.status_code == 200, response.json
    etag = response.headers["ETag"]
    again = api.patch(
        f"/api/v1/contacts/{contact.id}",
        json={"company_id": company.id + 500},
        headers={"If-Match": etag},
    )
    assert again.status_code == 422 and "company_id" in again.json["errors"]


def test_polymorphic_reference_is_checked(crm, two_reps):
    mine, theirs = two_reps
    hidden = crm.records(Access.for_user(theirs)).create("contacts", {"first_name": "Di"})
    service = crm.records(Access.for_user(mine))
    with pytest.raises(ValidationError) as refused:
        service.create("notes", {"body": "hi", "record_type": "contacts", "record_id": hidden.id})
    assert "record_id" in refused.value.messages


def test_user_reference_needs_an_existing_user(crm, two_reps):
    mine, _theirs = two_reps
    service = crm.records(Access.for_user(mine))
    task = service.create("tasks", {"title": "Call", "assignee_id": mine.id})
    assert task.assignee_id == mine.id
    with pytest.raises(ValidationError) as refused:
        service.create("tasks", {"title": "Call", "assignee_id": 777_777})
    assert "assignee_id" in refused.value.messages


def test_create_many_checks_each_field_with_one_query(crm, session, two_reps):
    mine, theirs = two_reps
    owner = crm.records(Access.for_user(mine))
    readable = [owner.create("companies", {"name": f"Mine {i}"}).id for i in range(5)]
    hidden = crm.records(Access.for_user(theirs)).create("companies", {"name": "Theirs"}).id
    rows = [{"first_name": f"P{i}", "company_id": c} for i, c in enumerate(readable)]
    rows += [
        {"first_name": "Bad", "company_id": hidden},
        {"first_name": "Gone", "company_id": 10**9},
    ]
    statements: list[str] = []

    def seen(conn, cursor, statement, *args):
        if "core_company" in statement and statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", seen)
    try:
        results = owner.create_many("contacts", rows)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert [type(r).__name__ for r in results[-2:]] == ["ValidationError", "ValidationError"]
    assert all(not isinstance(r, Exception) for r in results[:5])
    assert results[-1].messages == {"company_id": [MISSING]}
    assert len(statements) == 1, statements


def test_readable_ids_sends_any_number_of_ids_as_one_parameter(crm, two_reps):
    """One statement text whatever the count (an import batch names ~1,000 companies), the
    writer's scope applied, trashed records and ids past 32 bits left out."""
    from crmcore.references import readable_ids

    mine, theirs = two_reps
    owner = crm.records(Access.for_user(mine))
    readable = [owner.create("companies", {"name": f"Mine {i}"}).id for i in range(4)]
    hidden = crm.records(Access.for_user(theirs)).create("companies", {"name": "Theirs"}).id
    owner.delete("companies", owner.get("companies", readable[-1]))
    companies = crm.registry.get("companies")
    statements: list[tuple[str, object]] = []

    def seen(_conn, _cursor, statement, params, *_args):
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, params))

    event.listen(crm.engine, "before_cursor_execute", seen)
    try:
        few = readable_ids(owner, companies, [readable[0]])
        many = readable_ids(
            owner, companies, [*readable, hidden, 2**40, *range(10**9, 10**9 + 2000)]
        )
        users = readable_ids(owner, crm.registry.get("users"), [mine.id, theirs.id, 2**40])
    finally:
        event.remove(crm.engine, "before_cursor_execute", seen)
    assert few == {readable[0]} and many == set(readable[:-1])
    assert users == {mine.id, theirs.id}
    assert statements[0][0] == statements[1][0]  # the same text for 1 id and 2,006
    assert all(len(params) <= 4 for _statement, params in statements), statements


def test_import_rejects_rows_with_bad_references(crm, tmp_path, two_reps):
    mine, theirs = two_reps
    good = crm.records(Access.for_user(mine)).create("companies", {"name": "Good"}).id
    hidden = crm.records(Access.for_user(theirs)).create("companies", {"name": "Hidden"}).id
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(
        [
            ["first_name", "company_id"],
            ["Ok", str(good)],
            ["Theirs", str(hidden)],
            ["Missing", "123456789"],
        ]
    )
    path = tmp_path / "in.csv"
    path.write_text(buffer.getvalue(), encoding="utf-8")
    access = Access.for_user(mine)
    access = Access(
        user=mine,
        grants=access.grants,
        permissions=frozenset({"data.import"}),
    )
    result = import_file(crm, access, Path(path), ImportOptions(entity="contacts"))
    assert (result.created, result.rejected) == (1, 2)
    assert result.report_path is not None
    with open(result.report_path, encoding="utf-8-sig", newline="") as fh:
        report = list(csv.reader(fh))
    reasons = {row[2]: row[1] for row in report[1:]}
    assert set(reasons) == {"Theirs", "Missing"}
    assert all("company_id" in r and MISSING in r for r in reasons.values())


# pages and exports -----------------------------------------------------------------------------


@pytest.mark.crm_plugins("support")
def test_detail_and_list_show_titles_linked(crm, records, web, make_contact):
    queue = records.create("support_queues", {"name": "Front desk"})
    contact = make_contact(first_name="Eve", last_name="Lind")
    ticket = records.create(
        "tickets", {"subject": "Broken", "queue_id": queue.id, "contact_id": contact.id}
    )
    note = records.create(
        "notes", {"body": "Called", "record_type": "tickets", "record_id": ticket.id}
    )
    html = web.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    assert f'<a href="/support_queues/{queue.id}">Front desk</a>' in html
    assert f'<a href="/contacts/{contact.id}">Eve Lind</a>' in html
    listing = web.get("/tickets?columns=subject,queue_id").get_data(as_text=True)
    assert f'<a href="/support_queues/{queue.id}">Front desk</a>' in listing
    note_page = web.get(f"/notes/{note.id}").get_data(as_text=True)
    assert f'<a href="/tickets/{ticket.id}">' in note_page and "Record: " not in note_page
    notes = web.get("/notes").get_data(as_text=True)
    assert f'<a href="/tickets/{ticket.id}">' in notes


@pytest.mark.crm_plugins("kb")
def test_user_reference_shows_the_users_name(crm, records, web, make_user):
    author = make_user("admin", name="Ada Author")
    article = records.create("articles", {"title": "How to", "body": "x", "author_id": author.id})
    html = web.get(f"/articles/{article.id}").get_data(as_text=True)
    assert "Ada Author" in html
    form = web.get(f"/articles/{article.id}/edit").get_data(as_text=True)
    author_select = form.split('name="author_id"', 1)[1].split("</select>", 1)[0]
    assert f'<option value="{author.id}" selected>Ada Author</option>' in author_select


def test_export_adds_name_columns_within_scope(crm, api_as, two_reps):
    mine, theirs = two_reps
    owner = crm.records(Access.for_user(mine))
    company = owner.create("companies", {"name": "=Mine Ltd"})
    hidden = crm.records().create("companies", {"name": "Theirs Ltd", "owner_id": theirs.id})
    owner.create("contacts", {"first_name": "A", "company_id": company.id})
    other = owner.create("contacts", {"first_name": "B"})
    crm.records().update("contacts", other, {"company_id": hidden.id})
    access = Access(
        user=mine, grants=Access.for_user(mine).grants, permissions=frozenset({"data.export"})
    )
    from crmcore.exporting import export_chunks

    service = crm.records(access)
    text = b"".join(export_chunks(service, crm.registry.get("contacts"), "csv")).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    header = next(csv.reader(io.StringIO(text)))
    assert header.index("company_id_name") == header.index("company_id") + 1
    assert header.index("owner_id_name") == header.index("owner_id") + 1
    by_name = {r["first_name"]: r for r in rows}
    assert by_name["A"]["company_id_name"] == "'=Mine Ltd"  # formula-guarded like any cell
    assert by_name["B"]["company_id"] == str(hidden.id) and by_name["B"]["company_id_name"] == ""
    assert by_name["A"]["owner_id_name"] == (mine.name or mine.email)
    data = json.loads(b"".join(export_chunks(service, crm.registry.get("contacts"), "json")))
    first = next(d for d in data if d["first_name"] == "A")
    assert first["company_id_name"] == "=Mine Ltd"
    assert list(first).index("company_id_name") == list(first).index("company_id") + 1


# the test kit ----------------------------------------------------------------------------------


@pytest.mark.crm_plugins("sales")
def test_assert_references_scoped(crm, two_reps):
    mine, theirs = two_reps
    crm.records(Access.for_user(theirs)).create("contacts", {"first_name": "Hidden"})
    crm.records(Access.for_user(theirs)).create("companies", {"name": "Hidden Ltd"})
    checked = assert_references_scoped(
        crm, "deal", mine, {"title": "D", "amount": "1", "currency": "EUR"}
    )
    assert {"contact_id", "company_id"} <= set(checked)


@pytest.mark.crm_plugins("loyalty")
def test_assert_references_scoped_fails_for_an_unchecked_reference(
    crm, records, make_user, monkeypatch
):
    records.create(
        "roles",
        {
            "name": "ledger",
            "title": "Ledger",
            "grants": {
                "loyalty_entries": {"read": "all", "create": "all"},
                "contacts": {"read": "own"},
            },
        },
    )
    writer = make_user("ledger")
    records.create("contacts", {"first_name": "Hidden"})
    data = {"points": 5, "reason": "Welcome"}
    assert assert_references_scoped(crm, "loyalty_entry", writer, data) == ["contact_id"]
    monkeypatch.setattr(ReferenceCheck, "errors", lambda self, values, record: {})
    with pytest.raises(AssertionError, match="contact_id"):
        assert_references_scoped(crm, "loyalty_entry", writer, data)


def test_picker_json_offers_only_readable_records(crm, web_as, two_reps):
    mine, theirs = two_reps
    crm.records(Access.for_user(mine)).create("companies", {"name": "Acme Mine"})
    crm.records(Access.for_user(theirs)).create("companies", {"name": "Acme Theirs"})
    client = web_as(mine)
    response = client.get("/companies/picker?format=json&q=acme")
    assert response.status_code == 200
    assert [o["title"] for o in response.get_json()["options"]] == ["Acme Mine"]
    form = client.get("/contacts/new").get_data(as_text=True)
    assert "data-picker" in form and "picker.js" in form and "<script>" not in form


def test_a_picker_starts_with_the_newest_records_it_may_read_by_title(crm, web_as, two_reps):
    mine, theirs = two_reps
    as_mine = crm.records(Access.for_user(mine))
    for i in range(5):
        as_mine.create("companies", {"name": f"Aardvark {i}"})  # the oldest: left out
    for i in range(PICKER_LIMIT):
        as_mine.create("companies", {"name": f"{'bCdEfGh'[i % 7]}eta {i:02d}"})
    crm.records(Access.for_user(theirs)).create("companies", {"name": "Acme Theirs"})
    titles = [
        o["title"]
        for o in web_as(mine).get("/companies/picker?format=json&q=").get_json()["options"]
    ]
    assert len(titles) == PICKER_LIMIT
    assert not any(t.startswith(("Aardvark", "Acme")) for t in titles)
    assert titles == sorted(titles, key=str.casefold) != sorted(titles)  # whatever the case
    # typing finds what the first options leave out
    found = web_as(mine).get("/companies/picker?format=json&q=aardvark").get_json()["options"]
    assert [o["title"] for o in found] == [f"Aardvark {i}" for i in range(5)]


def test_an_action_s_reference_input_is_the_scoped_picker(crm, web_as, two_reps):
    mine, theirs = two_reps
    as_mine = crm.records(Access.for_user(mine))
    keep = as_mine.create("contacts", {"first_name": "Lola", "last_name": "Keep"})
    as_mine.create("contacts", {"first_name": "Lola", "last_name": "Twin"})
    crm.records(Access.for_user(theirs)).create("contacts", {"last_name": "Elsewhere"})
    client = web_as(mine)
    for url in (f"/contacts/{keep.id}", f"/contacts/{keep.id}/actions/merge"):
        html = client.get(url).get_data(as_text=True)
        picker = html.split('data-source="/contacts/picker"', 1)[1].split("</select>", 1)[0]
        assert 'id="action-merge-other_id" name="other_id"' in picker
        assert "Lola Twin" in picker and "Elsewhere" not in picker
        assert 'for="action-merge-other_id"' in html and "picker.js" in html


def test_a_refused_dialog_keeps_the_record_chosen_and_another_reps_stays_out(crm, web_as, two_reps):
    from test_web import csrf_of

    mine, theirs = two_reps
    as_mine = crm.records(Access.for_user(mine))
    keep = as_mine.create("contacts", {"first_name": "Lola", "last_name": "Keep"})
    for i in range(PICKER_LIMIT):  # newer: Lola Keep is no longer among the first options
        as_mine.create("contacts", {"last_name": f"Newer {i}"})
    elsewhere = crm.records(Access.for_user(theirs)).create("contacts", {"last_name": "Elsewhere"})
    client = web_as(mine)
    url = f"/contacts/{keep.id}/actions/merge"
    token = csrf_of(client.get(url).get_data(as_text=True))
    refused = client.post(url, data={"csrf_token": token, "other_id": str(keep.id)})
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    picker = html.split('id="action-merge-other_id"', 1)[1].split("</select>", 1)[0]
    assert f'value="{keep.id}" selected>Lola Keep<' in picker
    # another rep's contact, its id typed into the form: refused, untouched, not named
    r = client.post(url, data={"csrf_token": token, "other_id": str(elsewhere.id)})
    assert r.status_code in (404, 422)
    assert "Elsewhere" not in r.get_data(as_text=True)
    crm.session.expire_all()
    assert crm.records().get("contacts", elsewhere.id).deleted_at is None
