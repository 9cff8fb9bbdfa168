"""The audit viewer: ``GET /api/v1/audit`` and the ``/audit`` page - every entity's changes,
sign-ins and failed sign-ins, filters, keyset paging, CSV, in the reader's scope."""

from __future__ import annotations

import csv
import io
import re

from test_web import post, sign_in

from crmcore.testing.plugin import PASSWORD


def rows(response):
    assert response.status_code == 200, response.get_json()
    return response.get_json()["data"]


def test_admin_reads_every_entity_with_filters_and_paging(api, admin, make_contact, records):
    a = make_contact(last_name="Audited")
    records.update("contacts", a, {"city": "Teruel"})
    company = records.create("companies", {"name": "Audit SA"})
    everything = rows(api.get("/api/v1/audit?limit=200"))
    kinds = {(r["entity"], r["action"]) for r in everything}
    assert {("contact", "create"), ("contact", "update"), ("company", "create")} <= kinds
    ids = [r["id"] for r in everything]
    assert ids == sorted(ids, reverse=True)  # newest first
    mine = rows(api.get(f"/api/v1/audit?entity=contacts&record={a.id}"))
    assert [r["action"] for r in mine] == ["update", "create"]
    assert mine[0]["changes"]["city"] == [None, "Teruel"]
    assert rows(api.get("/api/v1/audit?entity=company&action=create"))[0]["record_id"] == company.id
    assert rows(api.get(f"/api/v1/audit?user={admin.id}&entity=contacts")) == []  # system wrote
    assert rows(api.get("/api/v1/audit?since=2999-01-01")) == []
    assert rows(api.get("/api/v1/audit?until=2000-01-01")) == []
    # keyset paging: two pages of one row make the first two rows
    first = api.get(f"/api/v1/audit?entity=contacts&record={a.id}&limit=1").get_json()
    assert first["next_cursor"]
    second = api.get(
        f"/api/v1/audit?entity=contacts&record={a.id}&limit=1&cursor={first['next_cursor']}"
    ).get_json()
    assert [r["id"] for r in first["data"] + second["data"]] == [r["id"] for r in mine]
    assert second["next_cursor"] is None


def test_bad_parameters_are_clear_422s(api):
    for query in ("since=yesterday", "until=2026-13-40", "limit=lots", "cursor=-5", "record=x"):
        r = api.get(f"/api/v1/audit?{query}")
        assert r.status_code == 422 and r.mimetype == "application/problem+json", query
        assert query.split("=")[0] in str(r.get_json())
    assert api.get("/api/v1/audit?limit=100000").status_code == 200  # capped, not refused


def test_a_rep_reads_only_rows_of_records_they_may_read(
    api_as, make_user, records, make_contact, client
):
    rep = make_user("sales_rep")
    other = make_user("sales_rep")
    own = records.create("contacts", {"last_name": "Mine", "owner_id": rep.id})
    theirs = records.create("contacts", {"last_name": "Theirs", "owner_id": other.id})
    records.update("contacts", theirs, {"city": "Secret city"})
    records.create("companies", {"name": "Company nobody gave them"})
    sign_in(client, other)  # another user's sign-in
    rep_api = api_as(rep)
    seen = rows(rep_api.get("/api/v1/audit?limit=200"))
    assert {(r["entity"], r["record_id"]) for r in seen if r["entity"] == "contact"} == {
        ("contact", own.id)
    }
    assert "Secret city" not in str(seen) and "Theirs" not in str(seen)
    assert not [r for r in seen if r["entity"] in ("company", "session", "setting", "person")]
    # asking for the record by id does not reveal it either
    assert rows(rep_api.get(f"/api/v1/audit?entity=contacts&record={theirs.id}")) == []
    assert rows(rep_api.get(f"/api/v1/audit?user={other.id}")) == []
    csv_text = rep_api.get("/api/v1/audit?format=csv").get_data(True)
    assert "Secret city" not in csv_text and "Theirs" not in csv_text


def test_sign_ins_and_failures_are_in_the_trail(api, client, make_user, app):
    user = make_user("sales_rep")
    r = post(client, "/login", {"email": user.email, "password": "wrong-password-1"})
    assert r.status_code == 401
    sign_in(client, user)
    anonymous = app.test_client()
    assert anonymous.post(
        "/api/v1/auth/token", json={"email": "ghost@example.org", "password": "x" * 12}
    ).status_code == 401
    found = rows(api.get("/api/v1/audit?entity=session&limit=200"))
    kinds = [(r["action"], r["changes"]["email"][1], r["changes"]["via"][1]) for r in found]
    assert ("signin_failed", user.email, "web") in kinds
    assert ("signin", user.email, "web") in kinds
    assert ("signin_failed", "ghost@example.org", "api") in kinds
    assert all("password" not in str(r["changes"]) for r in found)
    failed = rows(api.get("/api/v1/audit?action=signin_failed"))
    assert failed and {r["action"] for r in failed} == {"signin_failed"}
    # the user reads their own sign-ins, not the ghost's
    client2 = app.test_client()
    token = client2.post(
        "/api/v1/auth/token", json={"email": user.email, "password": PASSWORD}
    ).get_json()["token"]
    theirs = client2.get(
        "/api/v1/audit?entity=session", headers={"Authorization": f"Bearer {token}"}
    ).get_json()["data"]
    assert theirs and {r["user_id"] for r in theirs if r["action"] == "signin"} == {user.id}
    assert "ghost@example.org" not in str(theirs)


def test_csv_export_is_spreadsheet_safe(api, records):
    records.create("companies", {"name": "=HYPERLINK(\"http://x\")"})
    r = api.get("/api/v1/audit?format=csv&entity=companies")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    table = list(csv.reader(io.StringIO(r.get_data(True))))
    assert table[0] == [
        "id", "at", "user_id", "user_name", "entity", "record_id", "action", "changes"
    ]
    assert all(not cell.startswith("=") for row in table[1:] for cell in row)
    assert api.get("/api/v1/audit?format=csv&since=nope").status_code == 422


def test_audit_page(web, web_as, make_user, records):
    company = records.create("companies", {"name": "Página <b>SL</b>"})
    html = web.get("/audit").get_data(True)
    assert "Página &lt;b&gt;SL&lt;/b&gt;" in html and "<b>SL</b>" not in html
    assert f"/companies/{company.id}" in html
    filtered = web.get("/audit?entity=companies&action=create").get_data(True)
    assert "Página" in filtered
    bad = web.get("/audit?since=ayer")
    assert bad.status_code == 422 and "form-error" in bad.get_data(True)
    csv_page = web.get("/audit/export.csv?entity=companies")
    assert csv_page.status_code == 200 and "Página" in csv_page.get_data(True)
    rep = web_as(make_user("sales_rep"))
    theirs = rep.get("/audit").get_data(True)
    assert "Página" not in theirs
    assert "Audit trail" in theirs
    older = web.get("/audit?limit=1").get_data(True)
    assert re.search(r'href="/audit\?[^"]*cursor=\d+', older)


def test_privacy_pages_are_spanish(app, make_user, make_contact, records, client):
    from test_spanish_pages import _Texts, english_messages

    admin = make_user("admin", locale="es")
    contact = make_contact(email="spanish.page@example.org")
    records.delete("contacts", make_contact())
    sign_in(client, admin)
    english = english_messages(app)
    leaks = {}
    for url in (
        "/audit",
        "/audit?since=ayer",
        "/contacts/trash",
        "/admin/settings",
        f"/contacts/{contact.id}",
        f"/contacts/{contact.id}/actions/erase",
    ):
        response = client.get(url)
        assert response.status_code in (200, 422), url
        parser = _Texts()
        parser.feed(response.get_data(as_text=True))
        found = {t for t in parser.texts if t in english}
        if found:
            leaks[url] = found
    assert not leaks, leaks
    page = client.get("/audit").get_data(True)
    assert "Registro de auditoría" in page and "Inicio de sesión" in page
    assert "Vaciar la papelera" in client.get("/contacts/trash").get_data(True)
    assert "Suprimir datos personales" in client.get(f"/contacts/{contact.id}").get_data(True)
