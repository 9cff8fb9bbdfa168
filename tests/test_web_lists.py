"""Record pages beyond the basics: chosen columns, saved views, bulk actions and CSV export,
related records, reference pickers, inline timeline logging, nested lists, dashboard charts."""

from __future__ import annotations

import csv
import io
import json
import re
from html import unescape

import pytest
from sqlalchemy import select
from test_web import XSS, csrf_of, page, post, sign_in

from crmcore.settings import SavedView


@pytest.fixture
def admin_client(app, admin):
    client = app.test_client()
    sign_in(client, admin)
    return client


def client_for(app, user):
    client = app.test_client()
    sign_in(client, user)
    return client


def save_view(client, url: str, name: str, default: bool = False):
    html = page(client, url)
    query = unescape(re.search(r'name="query" value="([^"]*)"', html).group(1))
    columns = unescape(re.search(r'name="columns" value="([^"]*)"', html).group(1))
    data = {"csrf_token": csrf_of(html), "name": name, "query": query, "columns": columns}
    if default:
        data["is_default"] = "on"
    return client.post("/contacts/views", data=data)


def header_cells(html: str) -> list[str]:
    head = html.split("<thead>", 1)[1].split("</thead>", 1)[0]
    return [
        unescape(re.sub(r"<[^>]+>", "", c)).strip()
        for c in re.findall(r"<th[^>]*>(.*?)</th>", head, re.S)
    ]


# columns and saved views ------------------------------------------------------------------------


def test_choose_columns(admin_client, make_contact):
    make_contact(first_name="Colm", last_name="Column", city="Cork", title="Chief")
    html = page(admin_client, "/contacts?columns=last_name&columns=title&columns=bogus")
    assert header_cells(html)[1:] == ["Last name", "Title"]
    assert "Chief" in html and "Cork" not in html
    # sorting and paging keep the chosen columns
    assert "columns=last_name%2Ctitle" in html
    default = page(admin_client, "/contacts")
    assert "Email" in header_cells(default) and "Title" not in header_cells(default)


def test_saved_views_are_per_user(app, admin, make_user, make_contact, crm):
    make_contact(first_name="Vera", last_name="Viewed", city="Vigo")
    make_contact(first_name="Otto", last_name="Other", city="Oslo")
    client = client_for(app, admin)
    response = save_view(client, "/contacts?city=Vigo&columns=last_name,city", "Vigo people", True)
    assert response.status_code == 303
    view = crm.session.scalar(select(SavedView).where(SavedView.name == "Vigo people"))
    assert view.user_id == admin.id and view.is_default and view.columns == ["last_name", "city"]
    assert view.query == "city=Vigo"
    # the default view opens first
    response = client.get("/contacts")
    assert response.status_code == 303 and "city=Vigo" in response.headers["Location"]
    html = page(client, response.headers["Location"])
    assert "Viewed" in html and "Other" not in html and "Vigo people" in html
    # "Clear" leaves the default view
    assert "Other" in page(client, "/contacts?view=none")

    other = make_user("admin")
    other_client = client_for(app, other)
    html = page(other_client, "/contacts")  # no redirect: not their default
    assert "Vigo people" not in html
    assert other_client.get(f"/contacts/views/{view.id}").status_code == 404
    token = csrf_of(html)
    for action in ("delete", "default"):
        response = other_client.post(
            f"/contacts/views/{view.id}/{action}", data={"csrf_token": token}
        )
        assert response.status_code == 404
    crm.session.expire_all()
    assert crm.session.get(SavedView, view.id).is_default

    # the owner unsets the default and deletes the view
    html = page(client, "/contacts?view=none")
    token = csrf_of(html)
    assert (
        client.post(f"/contacts/views/{view.id}/default", data={"csrf_token": token}).status_code
        == 303
    )
    assert client.get("/contacts").status_code == 200
    assert (
        client.post(f"/contacts/views/{view.id}/delete", data={"csrf_token": token}).status_code
        == 303
    )
    crm.session.expire_all()
    assert crm.session.get(SavedView, view.id) is None


def test_view_forms_need_csrf(admin_client, crm):
    response = admin_client.post("/contacts/views", data={"name": "Sneaky", "query": ""})
    assert response.status_code == 400
    assert crm.session.scalar(select(SavedView).where(SavedView.name == "Sneaky")) is None


# bulk actions -----------------------------------------------------------------------------------


def bulk(client, data: dict, from_page: str = "/contacts?view=none"):
    return post(client, "/contacts/bulk", data, from_page=from_page)


def test_bulk_assign_tag_untag_and_delete(admin_client, make_contact, make_user, crm):
    rep = make_user("sales_rep", name="Rhoda Rep")
    a, b, c = (make_contact(last_name=f"Bulk{n}") for n in range(3))
    response = bulk(admin_client, {"action": "assign", "owner": rep.id, "ids": [a.id, b.id]})
    assert response.status_code == 303
    crm.session.expire_all()
    assert (a.owner_id, b.owner_id) == (rep.id, rep.id)
    assert c.owner_id != rep.id
    assert "2 records assigned." in page(admin_client, response.headers["Location"])

    bulk(admin_client, {"action": "tag", "tag": "vip", "ids": [a.id, c.id]})
    crm.session.expire_all()
    assert a.tags == ["vip"] and c.tags == ["vip"] and not b.tags
    bulk(admin_client, {"action": "untag", "tag": "vip", "ids": [a.id]})
    crm.session.expire_all()
    assert a.tags == [] and c.tags == ["vip"]

    bulk(admin_client, {"action": "delete", "ids": [b.id]})
    crm.session.expire_all()
    assert b.deleted_at is not None and a.deleted_at is None


def test_bulk_actions_respect_permissions(app, make_user, make_contact, crm, records):
    rep = make_user("sales_rep")
    other = make_user("sales_rep")
    mine = records.create("contacts", {"last_name": "Mine", "owner_id": rep.id})
    theirs = records.create("contacts", {"last_name": "Theirs", "owner_id": other.id})
    client = client_for(app, rep)
    # a sales rep may not give records away (own scope) ...
    response = bulk(client, {"action": "assign", "owner": other.id, "ids": [mine.id]})
    assert response.status_code == 303
    assert "Nothing was changed" in page(client, response.headers["Location"])
    # ... nor touch another rep's contact: nothing at all changes
    response = bulk(client, {"action": "tag", "tag": "x", "ids": [mine.id, theirs.id]})
    assert "Nothing was changed" in page(client, response.headers["Location"])
    response = bulk(client, {"action": "delete", "ids": [mine.id, theirs.id]})
    crm.session.expire_all()
    assert mine.owner_id == rep.id and mine.tags == [] and mine.deleted_at is None
    assert theirs.tags == [] and theirs.deleted_at is None

    reader = client_for(app, make_user("read_only"))
    html = page(reader, "/contacts?view=none")
    assert 'value="assign"' not in html and 'value="delete"' not in html
    token = csrf_of(html)
    response = reader.post(
        "/contacts/bulk", data={"csrf_token": token, "action": "tag", "tag": "x", "ids": [mine.id]}
    )
    assert response.status_code == 403
    crm.session.expire_all()
    assert mine.tags == []


def test_bulk_actions_need_csrf(admin_client, make_contact, crm):
    contact = make_contact()
    response = admin_client.post("/contacts/bulk", data={"action": "delete", "ids": [contact.id]})
    assert response.status_code == 400
    response = admin_client.post(
        "/contacts/bulk", data={"action": "delete", "ids": [contact.id], "csrf_token": "forged"}
    )
    assert response.status_code == 400
    crm.session.expire_all()
    assert contact.deleted_at is None


def rows_of(response) -> list[dict[str, str]]:
    text = response.get_data(as_text=True).lstrip("\ufeff")
    return list(csv.DictReader(io.StringIO(text)))


def test_export_selection_and_filtered_list(app, admin_client, make_contact, make_user, records):
    a = make_contact(last_name="Exporta", city="Bilbao")
    b = make_contact(last_name="Exportb", city="Bilbao")
    make_contact(last_name="Exportc", city="Burgos")
    response = bulk(admin_client, {"action": "export", "ids": [a.id, b.id]})
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    assert sorted(r["last_name"] for r in rows_of(response)) == ["Exporta", "Exportb"]

    response = admin_client.get("/contacts/export?city=Burgos")
    assert [r["last_name"] for r in rows_of(response)] == ["Exportc"]
    assert 'href="/contacts/export?city=Bilbao"' in page(admin_client, "/contacts?city=Bilbao")

    # data.export is needed, and the read scope still applies
    rep = make_user("sales_rep")
    client = client_for(app, rep)
    assert "Export CSV" not in page(client, "/contacts?view=none")
    assert client.get("/contacts/export").status_code == 403
    manager = make_user("marketer")  # data.export, reads every contact
    records.create("contacts", {"last_name": "Repsown", "owner_id": rep.id})
    response = client_for(app, manager).get("/contacts/export?last_name=Repsown")
    assert [r["last_name"] for r in rows_of(response)] == ["Repsown"]


def test_empty_states_call_to_action(app, make_user):
    manager = client_for(app, make_user("manager"))
    html = page(manager, "/contacts")
    assert "No contacts yet." in html
    assert 'href="/contacts/new"' in html and 'href="/import?entity=contacts"' in html
    html = page(manager, "/contacts?city=Nowhere")
    assert "No contacts match these filters." in html and "Clear the filters" in html
    reader = client_for(app, make_user("read_only"))
    html = page(reader, "/contacts")
    assert "Create the first one" not in html and "/import" not in html


def test_list_page_queries_do_not_grow_with_rows(admin_client, make_contact, make_company, crm):
    from sqlalchemy import event

    company = make_company(name="Acme")
    for n in range(3):
        make_contact(last_name=f"Few{n}", company_id=company.id)
    statements: list[str] = []

    def count(*args):
        statements.append(args[2])

    event.listen(crm.engine, "before_cursor_execute", count)
    try:
        page(admin_client, "/contacts?columns=last_name,company_id,owner_id&view=none")
        few = len(statements)
        for n in range(20):
            make_contact(last_name=f"Many{n}", company_id=make_company().id)
        statements.clear()
        page(admin_client, "/contacts?columns=last_name,company_id,owner_id&view=none")
        assert len(statements) == few, statements
    finally:
        event.remove(crm.engine, "before_cursor_execute", count)


# related records, pickers, timeline, nested lists -----------------------------------------------


def test_related_records_are_scoped(app, make_user, records):
    rep = make_user("sales_rep")
    other = make_user("sales_rep")
    company = records.create("companies", {"name": "Shared Co", "owner_id": rep.id})
    records.create(
        "contacts", {"last_name": "Visible", "company_id": company.id, "owner_id": rep.id}
    )
    records.create(
        "contacts", {"last_name": "Hidden", "company_id": company.id, "owner_id": other.id}
    )
    html = page(client_for(app, rep), f"/companies/{company.id}")
    related = html.split('id="related-contacts-company_id"', 1)[1].split("</section>", 1)[0]
    assert "Test Visible" in related or "Visible" in related
    assert "Hidden" not in html
    assert f'href="/contacts/new?company_id={company.id}"' in related


def test_a_reference_can_stay_out_of_the_related_lists(app, records, make_user, monkeypatch):
    from crmcore.contacts.schemas import ContactSchema

    admin = make_user("admin")
    company = records.create("companies", {"name": "Quiet Co"})
    records.create("contacts", {"last_name": "Listed", "company_id": company.id})
    url = f"/companies/{company.id}"
    assert 'id="related-contacts-company_id"' in page(client_for(app, admin), url)
    field = ContactSchema._declared_fields["company_id"]
    monkeypatch.setitem(field.metadata, "related_list", False)
    assert 'id="related-contacts-company_id"' not in page(client_for(app, admin), url)


def test_reference_picker_is_scoped(app, make_user, records):
    rep = make_user("sales_rep")
    other = make_user("sales_rep")
    records.create("companies", {"name": "Mine Ltd", "owner_id": rep.id})
    theirs = records.create("companies", {"name": "Theirs Ltd", "owner_id": other.id})
    client = client_for(app, rep)
    html = page(client, "/contacts/new")
    picker = html.split('id="f-company_id"', 1)[1].split("</select>", 1)[0]
    assert "Mine Ltd" in picker and "Theirs Ltd" not in picker
    assert 'type="number"' not in html.split('id="f-company_id"', 1)[0][-300:]
    options = page(client, "/companies/picker?q=ltd")
    assert "Mine Ltd" in options and "Theirs Ltd" not in options
    # a value the user may not read is kept, but not named
    contact = records.create(
        "contacts", {"last_name": "Linked", "company_id": theirs.id, "owner_id": rep.id}
    )
    html = page(client, f"/contacts/{contact.id}/edit")
    assert f'value="{theirs.id}" selected>#{theirs.id}<' in html
    assert "Theirs Ltd" not in html


def test_pick_a_company_on_the_form(admin_client, make_company, crm):
    company = make_company(name="Picked SA")
    response = post(
        admin_client,
        "/contacts/new",
        {"first_name": "Pia", "last_name": "Picker", "company_id": str(company.id)},
    )
    assert response.status_code == 303
    html = page(admin_client, response.headers["Location"])
    assert f'<a href="/companies/{company.id}">Picked SA</a>' in html


def test_log_task_and_call_on_the_timeline(admin_client, make_contact, crm):
    contact = make_contact(last_name="Timely")
    url = f"/contacts/{contact.id}"
    response = post(
        admin_client, f"{url}/tasks", {"title": "Send the quote", "priority": "high"}, from_page=url
    )
    assert response.status_code == 303
    response = post(
        admin_client,
        f"{url}/activities",
        {"kind": "call", "subject": "Discussed prices", "duration_minutes": "15"},
        from_page=url,
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 303
    html = page(admin_client, url)
    timeline = html.split('id="timeline"', 1)[1]
    assert "Send the quote" in timeline and "Discussed prices" in timeline
    # bad input: 422 with the message next to the field, nothing created
    response = post(
        admin_client, f"{url}/activities", {"kind": "call", "subject": ""}, from_page=url
    )
    assert response.status_code == 422
    assert 'id="activity-subject-error"' in response.get_data(as_text=True)
    response = post(
        admin_client, f"{url}/tasks", {"title": "", "due_at": "nonsense"}, from_page=url
    )
    assert response.status_code == 422
    assert 'id="task-title-error"' in response.get_data(as_text=True)


def test_timeline_forms_need_csrf_and_access(app, admin_client, make_contact, make_user, records):
    contact = make_contact(last_name="Guarded")
    response = admin_client.post(f"/contacts/{contact.id}/tasks", data={"title": "No token"})
    assert response.status_code == 400
    rep = client_for(app, make_user("sales_rep"))
    html = page(rep, "/contacts")
    response = rep.post(
        f"/contacts/{contact.id}/activities",
        data={"csrf_token": csrf_of(html), "kind": "call", "subject": "Snoop"},
    )
    assert response.status_code == 404
    assert records.count("activities") == 0


def test_edit_extra_emails_and_phones(admin_client, make_contact, crm):
    contact = make_contact(last_name="Nested", emails=[{"label": "work", "value": "w@example.com"}])
    url = f"/contacts/{contact.id}/edit"
    html = page(admin_client, url)
    assert 'name="emails-0-value"' in html and 'value="w@example.com"' in html
    assert 'name="emails-1-value"' in html  # an empty row to add another
    form = {
        "version": str(contact.version),
        "first_name": "Test",
        "last_name": "Nested",
        "email": contact.email,
        "emails-0-label": "work",
        "emails-0-value": "w@example.com",
        "emails-1-label": "home",
        "emails-1-value": "h@example.com",
        "phones-0-label": "mobile",
        "phones-0-value": "+34 600 000 000",
    }
    response = post(admin_client, url, form)
    assert response.status_code == 303, response.get_data(as_text=True)
    crm.session.expire_all()
    assert [e["value"] for e in contact.emails] == ["w@example.com", "h@example.com"]
    assert contact.phones[0]["label"] == "mobile"
    # a bad address in a row is refused and the rows come back as typed
    form["emails-1-value"] = "not-an-address"
    form["version"] = str(contact.version)
    response = post(admin_client, url, form)
    assert response.status_code == 422
    assert 'value="not-an-address"' in response.get_data(as_text=True)
    # emptying a row removes it
    form["emails-1-value"] = ""
    form["emails-1-label"] = ""
    response = post(admin_client, url, form)
    assert response.status_code == 303
    crm.session.expire_all()
    assert [e["value"] for e in contact.emails] == ["w@example.com"]


# dashboard --------------------------------------------------------------------------------------


def test_dashboard_chart_is_scoped(app, make_user, records):
    rep = make_user("sales_rep")
    other = make_user("sales_rep")
    for assignee, priority in ((rep, "high"), (rep, "high"), (other, "high"), (rep, "low")):
        records.create("tasks", {"title": "T", "priority": priority, "assignee_id": assignee.id})
    html = page(client_for(app, rep), "/")
    found = re.search(r"data-chart='([^']+)'", html)
    assert found, "no chart on the home page"
    config = json.loads(unescape(found.group(1)))
    assert config["type"] == "bar"
    assert config["data"]["labels"] == ["High", "Normal", "Low"]
    assert config["data"]["datasets"][0]["data"] == [2, 0, 1]  # the other rep's task not counted
    assert "vendor/chart.umd.min.js" in html
    assert "<table>" in html.split("data-chart", 1)[1]  # the figures as a table too


def test_chart_values_are_cleaned():
    from crmcore.web.dashboard import chart_of

    assert chart_of({"type": "radar", "labels": [], "series": []}) is None
    assert chart_of({"type": "pie", "labels": ["a"], "series": "x"}) is None
    chart = chart_of(
        {
            "type": "line",
            "labels": ["a", "b"],
            "datasets": [{"label": 1, "data": [1, float("nan"), 3]}],
        }
    )
    assert chart == {
        "type": "line",
        "labels": ["a", "b"],
        "series": [{"label": "1", "data": [1, None]}],
    }


# escaping ---------------------------------------------------------------------------------------


def test_xss_in_names_is_escaped_on_the_new_pages(
    app, admin, admin_client, make_company, records, crm
):
    company = make_company(name=XSS)
    contact = records.create(
        "contacts", {"first_name": XSS, "last_name": "X", "company_id": company.id}
    )
    save_view(admin_client, "/contacts?view=none", XSS)
    urls = [
        "/contacts?view=none&columns=first_name,company_id",
        f"/companies/{company.id}",
        f"/contacts/{contact.id}/edit",
        "/contacts/new",
        "/companies/picker?q=",
    ]
    for url in urls:
        html = page(admin_client, url)
        assert XSS not in html, url
        assert "&lt;script&gt;" in html, url


def test_list_cells_computed_in_the_view(admin_client, make_contact, make_company, records):
    """Cells come from crmcore.web.display.table_rows: the first column links the record, a
    reference shows its linked title, values are escaped and formatted, labels on each cell."""
    company = make_company(name=f"Acme {XSS}")
    contact = make_contact(
        first_name="Cell", last_name=XSS, company_id=company.id, email_opt_out=True
    )
    html = page(admin_client, "/contacts?columns=last_name,company_id,email_opt_out,tags&view=none")
    assert XSS not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert f'<a href="/contacts/{contact.id}">&lt;script&gt;' in html
    assert f'<a href="/companies/{company.id}">Acme &lt;script&gt;' in html
    assert 'data-label="Company"' in html and 'data-label="Email opt out"' in html
    row = html[html.index(f'href="/contacts/{contact.id}"') :]
    assert "Yes" in row[: row.index("</tr>")]
