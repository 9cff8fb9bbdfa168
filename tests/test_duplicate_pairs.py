"""The duplicate scan and the lists of stored pairs: API, page, scope, paging, bad input."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from test_web import csrf_of, page, sign_in

from crmcore.duplicates.models import DuplicatePair
from crmcore.duplicates.scan import MAX_GROUP, scan

PAIRS = "/api/v1/contacts/duplicates"


def stored(crm: Any, entity: str) -> dict[tuple[int, int], list[str]]:
    rows = crm.session.scalars(select(DuplicatePair).where(DuplicatePair.entity == entity))
    return {(p.record_a, p.record_b): p.reasons for p in rows}


def test_scan_finds_contacts_by_email_phone_and_name(crm, records, make_company, make_contact):
    acme = make_company(name="Acme")
    a = make_contact(email="ana@example.com", first_name="Ana", last_name="Ruiz")
    b = make_contact(email="ANA@example.com", last_name="Other")
    c = make_contact(phone="+34 911 23 45 67")
    d = make_contact(mobile="+34911234567")
    e = make_contact(first_name="Luis", last_name="Gómez", company_id=acme.id)
    f = make_contact(first_name="luis", last_name="GÓMEZ", company_id=acme.id)
    make_contact(first_name="Marta", last_name="Gómez", company_id=acme.id)  # another person
    gone = make_contact(email="ana@example.com")
    records.delete("contacts", gone.id)
    result = scan(crm, "contact")
    assert stored(crm, "contact") == {
        (a.id, b.id): ["email"],
        (c.id, d.id): ["phone"],
        (e.id, f.id): ["name"],
    }
    assert result.pairs == 3


def test_scan_finds_companies_by_domain_and_name(crm, make_company):
    a = make_company(name="Acme, S.L.", domain="acme.example")
    b = make_company(name="ACME")
    c = make_company(name="Zeta", domain="acme.example")
    d = make_company(name="Talleres Pérez Hermanos")
    e = make_company(name="Talleres Perez Hermano")
    make_company(name="Talleres Martín")
    scan(crm, "company")
    assert stored(crm, "company") == {
        (a.id, b.id): ["name"],
        (a.id, c.id): ["domain"],
        (d.id, e.id): ["similar_name"],
    }


def test_a_crowded_key_pairs_with_the_oldest_only(crm, make_contact):
    people = [make_contact(phone="+34910000000") for _ in range(MAX_GROUP + 2)]
    scan(crm, "contact")
    pairs = stored(crm, "contact")
    assert len(pairs) == MAX_GROUP + 1
    assert {a for a, _ in pairs} == {people[0].id}


def test_a_new_scan_replaces_the_pairs(crm, records, make_contact):
    a = make_contact(email="x@example.com")
    make_contact(email="x@example.com")
    scan(crm, "contact")
    assert len(stored(crm, "contact")) == 1
    records.update("contacts", a.id, {"email": "y@example.com"})
    scan(crm, "contact")
    assert stored(crm, "contact") == {}


def test_api_lists_pairs_best_first_with_titles_and_pages(crm, api, make_company, make_contact):
    acme = make_company(name="Acme")
    a = make_contact(first_name="Ana", last_name="Ruiz", email="ana@example.com")
    b = make_contact(first_name="Ana", last_name="Ruiz", email="ana@example.com")
    for n in range(3):
        make_contact(last_name=f"Lee{n}", company_id=acme.id, phone=f"+3491000000{n}")
        make_contact(last_name=f"Lee{n}", company_id=acme.id, mobile=f"+3491000000{n}")
    scan(crm, "contact")
    first = api.get(f"{PAIRS}?limit=2")
    assert first.status_code == 200, first.get_json()
    body = first.get_json()
    top = body["data"][0]
    assert top["score"] == 95 and top["reasons"] == ["email"]
    assert top["records"] == [
        {"id": a.id, "title": "Ana Ruiz"},
        {"id": b.id, "title": "Ana Ruiz"},
    ]
    seen = [p["id"] for p in body["data"]]
    cursor = body["next_cursor"]
    while cursor:
        more = api.get(f"{PAIRS}?limit=2&cursor={cursor}").get_json()
        seen += [p["id"] for p in more["data"]]
        cursor = more["next_cursor"]
    assert len(seen) == len(set(seen)) == 4
    scores = [p["score"] for p in api.get(f"{PAIRS}?limit=200").get_json()["data"]]
    assert scores == sorted(scores, reverse=True)
    only_a = api.get(f"{PAIRS}?record_id={a.id}").get_json()["data"]
    assert [p["records"][1]["id"] for p in only_a] == [b.id]


def test_api_list_is_in_the_readers_scope(crm, api_as, make_user, records, make_contact):
    rep = make_user("sales_rep")
    mine = [make_contact(email="same@example.com", owner_id=rep.id) for _ in range(2)]
    make_contact(email="same@example.com")  # not the rep's
    scan(crm, "contact")
    data = api_as(rep).get(PAIRS).get_json()["data"]
    assert [[r["id"] for r in p["records"]] for p in data] == [[mine[0].id, mine[1].id]]
    records.delete("contacts", mine[1].id)  # the trash hides its pairs until the next scan
    assert api_as(rep).get(PAIRS).get_json()["data"] == []


def test_api_bad_input_is_a_clear_4xx(api, api_as, make_user):
    for query in ("limit=0", "limit=201", "limit=many", "cursor=nonsense", "cursor=1.x"):
        response = api.get(f"{PAIRS}?{query}")
        assert response.status_code == 400, query
        assert response.mimetype == "application/problem+json"
    assert api.get("/api/v1/notes/duplicates").status_code == 404
    nobody = api_as(make_user(None))
    assert nobody.get(PAIRS).status_code == 403
    assert nobody.post(f"{PAIRS}/scan").status_code == 403


def test_api_scan_runs_the_job(crm, api, make_company, immediate_jobs):
    a, b = make_company(name="Beta S.A."), make_company(name="beta")
    response = api.post("/api/v1/companies/duplicates/scan")
    assert response.status_code == 202 and response.get_json() == {"status": "queued"}
    data = api.get("/api/v1/companies/duplicates").get_json()["data"]
    assert [[r["id"] for r in p["records"]] for p in data] == [[a.id, b.id]]


def test_the_scan_is_a_nightly_job(crm):
    assert any(name.endswith("duplicate_scan") for name in crm.jobs.periodic)


def test_duplicates_page_from_the_list_and_find_now(app, crm, admin, make_contact, immediate_jobs):
    a = make_contact(first_name="Eva", last_name="Ruiz", email="eva@example.com")
    b = make_contact(first_name="Eva", last_name="R.", email="eva@example.com")
    client = app.test_client()
    sign_in(client, admin)
    assert 'href="/contacts/duplicates"' in page(client, "/contacts")
    html = page(client, "/contacts/duplicates")
    assert "No likely duplicates found." in html
    response = client.post("/contacts/duplicates/scan", data={"csrf_token": csrf_of(html)})
    assert response.status_code == 303
    html = page(client, "/contacts/duplicates")
    assert f'href="/contacts/{a.id}"' in html and f'href="/contacts/{b.id}"' in html
    assert "same e-mail" in html
    assert client.post("/contacts/duplicates/scan").status_code == 400  # no CSRF token
    assert client.get("/notes/duplicates").status_code == 404


def test_duplicates_page_in_spanish(app, crm, make_user, make_contact):
    make_contact(email="eva@example.com")
    make_contact(email="eva@example.com")
    scan(crm, "contact")
    client = app.test_client()
    sign_in(client, make_user("admin", locale="es"))
    html = page(client, "/contacts/duplicates")
    assert "Duplicados" in html and "mismo correo" in html and "Buscar duplicados ahora" in html
