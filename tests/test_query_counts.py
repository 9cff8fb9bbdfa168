"""No N+1: the number of SQL statements of a list request does not grow with its rows."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from crmcore.permissions import Access

#: Transaction bookkeeping, not queries.
_IGNORED = ("BEGIN", "SAVEPOINT", "RELEASE", "ROLLBACK", "COMMIT", "PRAGMA")


@contextmanager
def counting(crm: Any) -> Iterator[list[str]]:
    statements: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.lstrip().upper().startswith(_IGNORED):
            statements.append(statement)

    event.listen(crm.engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(crm.engine, "before_cursor_execute", before)


def _count(crm: Any, request: Callable[[], Any]) -> int:
    request()  # warm caches (enabled plugins, templates) like a running server
    with counting(crm) as statements:
        response = request()
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return len(statements)


def _fill(make_contact: Callable[..., Any], make_company: Callable[..., Any], n: int) -> None:
    company = make_company()
    for i in range(n):
        make_contact(company_id=company.id, tags=["vip"] if i % 2 else [])


def test_api_list_queries_do_not_grow_with_rows(crm, api, make_contact, make_company):
    _fill(make_contact, make_company, 3)
    few = _count(crm, lambda: api.get("/api/v1/contacts?limit=50"))
    _fill(make_contact, make_company, 30)
    many = _count(crm, lambda: api.get("/api/v1/contacts?limit=50"))
    assert many == few
    assert many <= 3  # the token's user, the page; nothing per row


def test_api_filtered_search_and_one_record_queries(crm, api, make_contact, make_company):
    _fill(make_contact, make_company, 20)
    contact = make_contact(first_name="José", last_name="Búsqueda", city="Sevilla")
    assert _count(crm, lambda: api.get("/api/v1/contacts?city=sevilla&sort=last_name")) <= 3
    assert _count(crm, lambda: api.get("/api/v1/contacts?q=jose")) <= 3
    assert _count(crm, lambda: api.get(f"/api/v1/contacts/{contact.id}")) <= 2


def test_sales_rep_list_queries_do_not_grow(crm, api_as, make_user, records, make_company):
    rep = make_user("sales_rep")
    rep_records = crm.records(Access.for_user(rep))
    client = api_as(rep)
    for i in range(3):
        rep_records.create("contacts", {"last_name": f"Mine {i}"})
    few = _count(crm, lambda: client.get("/api/v1/contacts"))
    for i in range(25):
        rep_records.create("contacts", {"last_name": f"More {i}"})
        records.create("contacts", {"last_name": f"Not mine {i}"})
    many = _count(crm, lambda: client.get("/api/v1/contacts"))
    assert many == few


def test_html_list_page_queries_do_not_grow_with_rows(crm, web, make_contact, make_company):
    _fill(make_contact, make_company, 3)
    few = _count(crm, lambda: web.get("/contacts"))
    _fill(make_contact, make_company, 30)
    many = _count(crm, lambda: web.get("/contacts"))
    assert many == few
