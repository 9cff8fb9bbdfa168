"""Exports honour the list: filters, search and sort, in the API and on the list page."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from test_web import sign_in

from crmcore.api import listing
from crmcore.exporting import columns_of, iter_records

EXPORT = "/api/v1/contacts/export"


def rows(response: Any) -> list[dict[str, str]]:
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    text = response.get_data(as_text=True)
    return list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))


@pytest.fixture
def people(make_contact) -> dict[str, Any]:
    return {
        "ana": make_contact(first_name="Ana", last_name="Zubiri", city="Madrid"),
        "bea": make_contact(first_name="Bea", last_name="Alonso", city="Madrid"),
        "cruz": make_contact(first_name="Cruz", last_name="Moreno", city="Sevilla"),
        "dani": make_contact(first_name="Dani", last_name="Moreno", city=None),
    }


def test_api_export_applies_filters_and_sort(api, people) -> None:
    got = rows(api.get(f"{EXPORT}?city=Madrid&sort=last_name"))
    assert [r["last_name"] for r in got] == ["Alonso", "Zubiri"]
    got = rows(api.get(f"{EXPORT}?sort=-last_name"))
    assert [r["first_name"] for r in got] == ["Ana", "Dani", "Cruz", "Bea"]  # ties by id
    got = rows(api.get(f"{EXPORT}?last_name__in=Moreno,Zubiri&sort=first_name"))
    assert [r["first_name"] for r in got] == ["Ana", "Cruz", "Dani"]


def test_api_export_applies_search_in_json_too(api, people) -> None:
    response = api.get(f"{EXPORT}?format=json&q=moreno&sort=-first_name")
    assert response.status_code == 200
    assert [r["first_name"] for r in json.loads(response.get_data())] == ["Dani", "Cruz"]


def test_api_export_ignores_paging_and_refuses_bad_queries(api, people) -> None:
    assert len(rows(api.get(f"{EXPORT}?limit=1&cursor=whatever"))) == 4
    for query in ("sort=password", "nosuchfield=1", "city__bogus=x", "created_at=yesterday"):
        response = api.get(f"{EXPORT}?{query}")
        assert response.status_code == 400, query
        assert response.mimetype == "application/problem+json"


def test_keyset_walks_a_nullable_sort_with_ties_across_batches(crm, make_contact) -> None:
    for city in ("Madrid", None, "Bilbao", "Madrid", None, "Avila", "Madrid", "Bilbao"):
        make_contact(city=city)
    service = crm.records()
    entity = crm.registry.get("contacts")
    columns = columns_of(service, entity)
    for sort in ("city", "-city", "-id", "last_name"):
        params = listing.parse(entity, {"sort": sort}, crm.settings.secret_key)
        order = listing.export_order(entity, params)
        small = [r["id"] for r in iter_records(service, entity, columns, 2, order=order)]
        whole = [r["id"] for r in iter_records(service, entity, columns, 1000, order=order)]
        assert small == whole and len(whole) == 8, sort
        stmt = listing.apply_sort(entity, service.query(entity), params)
        assert whole == [c.id for c in service.session.scalars(stmt)], sort


def test_list_page_export_applies_filters_search_and_sort(app, admin, people) -> None:
    client = app.test_client()
    sign_in(client, admin)
    got = rows(client.get("/contacts/export?city=Madrid&sort=-last_name"))
    assert [r["first_name"] for r in got] == ["Ana", "Bea"]
    got = rows(client.get("/contacts/export?q=moreno&sort=first_name"))
    assert [r["first_name"] for r in got] == ["Cruz", "Dani"]
    html = client.get("/contacts?city=Madrid&sort=-last_name").get_data(as_text=True)
    assert "/contacts/export?city=Madrid&amp;sort=-last_name" in html


def test_api_export_without_sort_stays_in_id_order(api, records, people) -> None:
    records.update("contacts", people["bea"].id, {"title": "Boss"})  # now the latest changed
    got = rows(api.get(f"{EXPORT}?city=Madrid"))
    assert [r["first_name"] for r in got] == ["Ana", "Bea"]


def test_exports_are_audited_and_shown_in_the_audit_viewer(app, api, admin, people, crm) -> None:
    from sqlalchemy import select

    from crmcore.audit import AuditEntry

    assert api.get(f"{EXPORT}?city=Madrid").status_code == 200
    client = app.test_client()
    sign_in(client, admin)
    assert client.get("/contacts/export?q=moreno").status_code == 200
    crm.session.expire_all()
    entries = crm.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "export").order_by(AuditEntry.id)
    ).all()
    assert [(e.entity, e.changes["via"][1]) for e in entries] == [("contact", "api"),
                                                                  ("contact", "web")]  # fmt: skip
    assert entries[0].changes["query"][1] == "city=Madrid" and entries[0].user_id is not None
    listed = api.get("/api/v1/audit?action=export").get_json()
    assert len(listed["data"]) == 2
