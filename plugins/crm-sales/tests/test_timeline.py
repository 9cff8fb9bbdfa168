"""Deals, quotes and orders on the contact's and the company's timeline, in the reader's scope."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event

pytestmark = pytest.mark.crm_plugins("sales")


def _kinds(api: Any, url: str, kind: str) -> list[dict[str, Any]]:
    r = api.get(f"{url}/timeline?kind={kind}")
    assert r.status_code == 200, r.get_json()
    return r.get_json()["data"]


def test_quotes_orders_and_deals_appear(api, make_contact, make_company, stages):
    company = make_company()
    contact = make_contact(company_id=company.id)
    quote = api.post("/api/v1/quotes", json={"lines": [], "contact_id": contact.id}).get_json()
    order = api.post("/api/v1/orders", json={"lines": [], "company_id": company.id}).get_json()
    deal = api.post(
        "/api/v1/deals",
        json={"title": "Big one", "amount": "100", "currency": "EUR", "contact_id": contact.id},
    ).get_json()
    url = f"/api/v1/contacts/{contact.id}"
    (item,) = _kinds(api, url, "quote")
    assert item["id"] == quote["id"] and item["link"] == f"/quotes/{quote['id']}"
    assert item["title"] == f"Quote {quote['number']}"
    assert [i["id"] for i in _kinds(api, url, "deal")] == [deal["id"]]
    assert _kinds(api, url, "order") == []  # the order is the company's, not the contact's
    # the company rolls up its contacts' quotes and deals, and shows its own order
    company_url = f"/api/v1/companies/{company.id}"
    found = {(i["kind"], i["id"]) for i in _kinds(api, company_url, "quote,order,deal")}
    assert found == {("quote", quote["id"]), ("order", order["id"]), ("deal", deal["id"])}


def test_another_reps_quote_on_a_shared_contact_is_hidden(api_as, make_user, make_contact, records):
    rep, other = make_user("sales_rep"), make_user("sales_rep")
    contact = make_contact(owner_id=rep.id)
    theirs = records.create("quotes", {"lines": [], "contact_id": contact.id, "owner_id": other.id})
    mine = records.create("quotes", {"lines": [], "contact_id": contact.id, "owner_id": rep.id})
    items = _kinds(api_as(rep), f"/api/v1/contacts/{contact.id}", "quote")
    assert [i["id"] for i in items] == [mine.id]
    assert theirs.number not in str(items)


def test_page_shows_quote_in_spanish(web_as, make_user, make_contact, records):
    user = make_user("admin", locale="es")
    contact = make_contact()
    quote = records.create("quotes", {"lines": [], "contact_id": contact.id})
    html = web_as(user).get(f"/contacts/{contact.id}?kind=quote").get_data(as_text=True)
    timeline = html.split('id="timeline-list"', 1)[1]
    assert f"Presupuesto {quote.number}" in timeline and "Borrador" in timeline
    assert 'value="quote" checked' in html and "Presupuestos" in html


def test_timeline_queries_stay_bounded(crm, api, make_contact, records):
    contact = make_contact()
    url = f"/api/v1/contacts/{contact.id}/timeline"

    def count() -> int:
        api.get(url)
        statements: list[str] = []

        def before(_c: Any, _cur: Any, statement: str, *_a: Any) -> None:
            if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "BEGIN")):
                statements.append(statement)

        event.listen(crm.engine, "before_cursor_execute", before)
        try:
            assert api.get(url).status_code == 200
        finally:
            event.remove(crm.engine, "before_cursor_execute", before)
        return len(statements)

    records.create("quotes", {"lines": [], "contact_id": contact.id})
    few = count()
    for _ in range(12):
        records.create("quotes", {"lines": [], "contact_id": contact.id})
        records.create("orders", {"lines": [], "contact_id": contact.id})
    assert count() == few
