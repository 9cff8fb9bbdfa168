"""A record's timeline: company roll-up, the kind filter, paging, bad input, bounded queries,
and the page's filter with and without htmx."""

from __future__ import annotations

from typing import Any

import pytest
from test_query_counts import counting

CONTACTS = "/api/v1/contacts"


@pytest.fixture
def admin_client(web_as: Any, admin: Any) -> Any:
    return web_as(admin)


def note(records: Any, record: Any, body: str, record_type: str = "contact", **extra: Any) -> Any:
    return records.create(
        "notes", {"record_type": record_type, "record_id": record.id, "body": body, **extra}
    )


def call(records: Any, record: Any, subject: str) -> Any:
    return records.create(
        "activities",
        {
            "record_type": "contact",
            "record_id": record.id,
            "kind": "call",
            "subject": subject,
            "occurred_at": "2026-01-02T10:00:00Z",
        },
    )


def test_company_timeline_rolls_up_its_contacts(api, records, make_company, make_contact):
    acme, other = make_company(name="Acme"), make_company(name="Other")
    ana = make_contact(company_id=acme.id)
    stranger = make_contact(company_id=other.id)
    note(records, acme, "On the company", record_type="company")
    note(records, ana, "On Ana")
    call(records, ana, "Called Ana")
    note(records, stranger, "On someone at another company")
    body = api.get(f"/api/v1/companies/{acme.id}/timeline").get_json()
    texts = [i["summary"] for i in body["data"] if i["kind"] == "note"]
    assert sorted(texts) == ["On Ana", "On the company"]
    assert [i["title"] for i in body["data"] if i["kind"] == "call"] == ["Call: Called Ana"]
    # the contact's own timeline does not show the company's note
    ana_items = api.get(f"{CONTACTS}/{ana.id}/timeline").get_json()["data"]
    assert "On the company" not in [i["summary"] for i in ana_items]


def test_roll_up_keeps_the_readers_scope(api_as, make_user, records, make_company, make_contact):
    rep, other = make_user("sales_rep"), make_user("sales_rep")
    company = make_company(owner_id=rep.id)
    mine = make_contact(company_id=company.id, owner_id=rep.id)
    theirs = make_contact(company_id=company.id, owner_id=other.id)
    note(records, mine, "Mine", owner_id=rep.id)
    # a note the rep owns, on a contact the rep may not read: not rolled up
    note(records, theirs, "On their contact", owner_id=rep.id)
    note(records, mine, "Their note on my contact", owner_id=other.id)
    items = api_as(rep).get(f"/api/v1/companies/{company.id}/timeline").get_json()["data"]
    assert [i["summary"] for i in items if i["kind"] == "note"] == ["Mine"]
    r = api_as(other).get(f"/api/v1/companies/{company.id}/timeline")
    assert r.status_code == 404


def test_kind_filter(api, records, make_contact):
    contact = make_contact()
    note(records, contact, "A note")
    call(records, contact, "A call")
    url = f"{CONTACTS}/{contact.id}/timeline"
    body = api.get(f"{url}?kind=note").get_json()
    assert {i["kind"] for i in body["data"]} == {"note"}
    kinds = {k["kind"]: k["label"] for k in body["kinds"]}
    assert kinds["note"] == "Notes" and kinds["call"] == "Calls" and "change" in kinds
    for query in ("kind=note,call", "kind=note&kind=call"):
        got = {i["kind"] for i in api.get(f"{url}?{query}").get_json()["data"]}
        assert got == {"note", "call"}, query
    assert {i["kind"] for i in api.get(url).get_json()["data"]} == {"note", "call", "change"}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("kind=nonsense", "kind"),
        ("kind=note,<script>", "kind"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=ten", "limit"),
        ("cursor=-1", "cursor"),
        ("cursor=1e9", "cursor"),
        ("cursor=99999999", "cursor"),
    ],
)
def test_bad_filters_are_400_problems(api, make_contact, query, field):
    contact = make_contact()
    r = api.get(f"{CONTACTS}/{contact.id}/timeline?{query}")
    assert r.status_code == 400, r.get_json()
    assert r.headers["Content-Type"].startswith("application/problem+json")
    assert field in r.get_json()["errors"]


def test_paging_walks_every_item_once(api, records, make_contact):
    contact = make_contact()
    for n in range(23):
        note(records, contact, f"Note {n}")
    url = f"{CONTACTS}/{contact.id}/timeline?kind=note&limit=10"
    seen: list[int] = []
    cursor = ""
    pages = 0
    while True:
        body = api.get(url + (f"&cursor={cursor}" if cursor else "")).get_json()
        seen += [i["id"] for i in body["data"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3 and len(seen) == 23 and len(set(seen)) == 23
    ats = [i["at"] for i in api.get(f"{url[:-2]}50").get_json()["data"]]
    assert ats == sorted(ats, reverse=True)


def test_timeline_queries_do_not_grow_with_items(crm, api, records, make_contact, make_company):
    company = make_company()
    contact = make_contact(company_id=company.id)
    url = f"/api/v1/companies/{company.id}/timeline"

    def count() -> int:
        api.get(url)  # warm caches like a running server
        with counting(crm) as statements:
            assert api.get(url).status_code == 200
        return len(statements)

    note(records, contact, "first")
    few = count()
    for n in range(15):
        note(records, contact, f"n{n}")
        call(records, contact, f"c{n}")
        records.create(
            "tasks", {"title": f"t{n}", "record_type": "contact", "record_id": contact.id}
        )
    many = count()
    assert many == few
    assert many <= 12  # token, user, record, one per kind, the actors' names


def test_other_entities_keep_their_timeline(api, records):
    task = records.create("tasks", {"title": "Ring back"})
    records.create("notes", {"record_type": "task", "record_id": task.id, "body": "On the task"})
    items = api.get(f"/api/v1/tasks/{task.id}/timeline").get_json()["data"]
    assert "On the task" in [i["summary"] for i in items]


# the page ---------------------------------------------------------------------------------


def _timeline(html: str) -> str:
    return html.split('id="timeline"', 1)[1].split('class="card history"', 1)[0]


def test_page_filter_works_without_javascript(admin_client, records, make_contact):
    contact = make_contact()
    note(records, contact, "Only the note")
    call(records, contact, "Only the call")
    html = _timeline(admin_client.get(f"/contacts/{contact.id}?kind=call").get_data(as_text=True))
    assert "Only the call" in html and "Only the note" not in html
    assert 'name="kind" value="call" checked' in html
    assert 'name="kind" value="note">' in html
    assert 'method="get"' in html
    html = _timeline(admin_client.get(f"/contacts/{contact.id}?kind=bogus").get_data(as_text=True))
    assert "Only the call" in html and "Only the note" in html  # an unknown kind is ignored
    html = _timeline(admin_client.get(f"/contacts/{contact.id}?kind=task").get_data(as_text=True))
    assert "Nothing of these kinds." in html


def test_page_loads_more(admin_client, records, make_contact):
    contact = make_contact()
    for n in range(30):
        note(records, contact, f"Note number {n:02d}")
    html = _timeline(admin_client.get(f"/contacts/{contact.id}?kind=note").get_data(as_text=True))
    assert html.count("Note number") == 25
    assert "?kind=note&amp;cursor=25#timeline" in html  # the link without JavaScript
    more = admin_client.get(f"/contacts/{contact.id}/timeline?kind=note&cursor=25")
    assert more.status_code == 200
    text = more.get_data(as_text=True)
    assert text.count("Note number") == 5 and "Note number 00" in text
    assert "Load more" not in text and "<html" not in text
    partial = admin_client.get(f"/contacts/{contact.id}/timeline?kind=note")
    assert 'id="timeline-list"' in partial.get_data(as_text=True)


def test_page_escapes_and_hides_what_the_reader_may_not_read(
    web_as, make_user, records, make_contact
):
    rep, other = make_user("sales_rep"), make_user("sales_rep")
    contact = make_contact(owner_id=rep.id)
    note(records, contact, "<script>alert(1)</script>", owner_id=rep.id)
    note(records, contact, "Secret of the other rep", owner_id=other.id)
    web = web_as(rep)
    html = web.get(f"/contacts/{contact.id}").get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert(1)" not in html
    assert "Secret of the other rep" not in html
    assert web_as(other).get(f"/contacts/{contact.id}/timeline").status_code == 404


def test_page_timeline_in_spanish(web_as, make_user, records, make_contact):
    user = make_user("admin", locale="es")
    contact = make_contact()
    note(records, contact, "Hola")
    records.update("contacts", contact, {"city": "Sevilla"})
    html = _timeline(web_as(user).get(f"/contacts/{contact.id}").get_data(as_text=True))
    assert "Notas" in html and "Llamadas" in html and "Mostrar" in html
    assert "Modificado: Ciudad" in html
