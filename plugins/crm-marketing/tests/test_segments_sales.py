"""Purchase-history conditions of segments (crm-sales): bought a product, no order in N days,
lifetime value over an amount; refused without sales; orders follow the reader's scope."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from crm_marketing.segments import count, members_query
from sqlalchemy import select

pytestmark = pytest.mark.crm_plugins("marketing", "sales")


@pytest.fixture
def products(records: Any) -> tuple[Any, Any]:
    seat = records.create(
        "products", {"sku": "SEAT", "name": "CRM seat", "prices": {"EUR": "240.00"}}
    )
    book = records.create(
        "products", {"sku": "BOOK", "name": "Handbook", "prices": {"EUR": "30.00", "USD": "35.00"}}
    )
    return seat, book


def _order(records: Any, contact: Any, lines: list[dict[str, Any]], **fields: Any) -> Any:
    data = {"contact_id": contact.id, "status": "confirmed", "lines": lines, **fields}
    return records.create("orders", data)


def _ids(records: Any, segment: Any) -> set[int]:
    return {c.id for c in records.session.scalars(members_query(records.crm, records, segment))}


def _segment(records: Any, conditions: list[dict[str, Any]], **fields: Any) -> Any:
    return records.create("segments", {"name": str(conditions), "conditions": conditions, **fields})


def _days_ago(days: int) -> str:
    return (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=days)).isoformat()


def test_bought_product(records, make_contact, products):
    seat, book = products
    buyer = make_contact()
    both = make_contact()
    other = make_contact()
    drafted = make_contact()
    cancelled = make_contact()
    _order(records, buyer, [{"product_id": seat.id, "quantity": "2"}])
    _order(records, both, [{"product_id": book.id, "quantity": "1"}])
    _order(records, both, [{"product_id": seat.id, "quantity": "1"}], status="paid")
    _order(records, other, [{"product_id": book.id, "quantity": "1"}])
    _order(records, drafted, [{"product_id": seat.id, "quantity": "1"}], status="draft")
    gone = _order(records, cancelled, [{"product_id": seat.id, "quantity": "1"}])
    records.update("orders", gone, {"status": "cancelled"})
    segment = _segment(records, [{"type": "bought_product", "product_id": seat.id}])
    assert _ids(records, segment) == {buyer.id, both.id}
    assert count(records, segment) == 2
    book_buyers = _segment(records, [{"type": "bought_product", "product_id": book.id}])
    assert _ids(records, book_buyers) == {both.id, other.id}
    # trashed orders do not count
    from crm_sales.models import Order

    for order in list(records.session.scalars(select(Order).where(Order.contact_id == buyer.id))):
        records.delete("orders", order)
    assert _ids(records, segment) == {both.id}


def test_no_order_in_days(records, make_contact, products):
    seat, _book = products
    lapsed = make_contact()
    recent = make_contact()
    never = make_contact()
    only_draft = make_contact()
    line = [{"product_id": seat.id, "quantity": "1"}]
    _order(records, lapsed, line, order_date=_days_ago(200))
    _order(records, recent, line, order_date=_days_ago(200))
    _order(records, recent, line, order_date=_days_ago(10))
    _order(records, only_draft, line, order_date=_days_ago(1), status="draft")
    segment = _segment(records, [{"type": "no_order_in_days", "days": 90}])
    assert _ids(records, segment) == {lapsed.id, never.id, only_draft.id}
    # lapsed customers: bought before, not in the last 90 days
    lapsed_buyers = _segment(
        records,
        [
            {"type": "bought_product", "product_id": seat.id},
            {"type": "no_order_in_days", "days": "90"},
        ],
    )
    assert _ids(records, lapsed_buyers) == {lapsed.id}
    assert _ids(records, _segment(records, [{"type": "no_order_in_days", "days": 5}])) == {
        lapsed.id,
        recent.id,
        never.id,
        only_draft.id,
    }


def test_lifetime_value_over(records, make_contact, products):
    seat, book = products
    big = make_contact()
    split = make_contact()
    small = make_contact()
    dollars = make_contact()
    _order(records, big, [{"product_id": seat.id, "quantity": "5"}])  # 1200 + tax
    _order(records, split, [{"product_id": seat.id, "quantity": "2"}])
    _order(records, split, [{"product_id": seat.id, "quantity": "3"}], status="delivered")
    _order(records, small, [{"product_id": book.id, "quantity": "1"}])
    _order(records, small, [{"product_id": seat.id, "quantity": "5"}], status="draft")
    _order(records, dollars, [{"product_id": book.id, "quantity": "100"}], currency="USD")
    segment = _segment(
        records, [{"type": "lifetime_value_over", "amount": "1000", "currency": "eur"}]
    )
    assert segment.conditions == [
        {"type": "lifetime_value_over", "amount": "1000.00", "currency": "EUR"}
    ]
    assert _ids(records, segment) == {big.id, split.id}
    usd = _segment(records, [{"type": "lifetime_value_over", "amount": 3000, "currency": "USD"}])
    assert _ids(records, usd) == {dollars.id}
    exact = _segment(
        records, [{"type": "lifetime_value_over", "amount": "30.00", "currency": "EUR"}]
    )
    assert small.id not in _ids(records, exact)  # strictly over
    assert small.id in _ids(
        records,
        _segment(records, [{"type": "lifetime_value_over", "amount": "29.99", "currency": "EUR"}]),
    )


def test_conditions_with_query_and_company(records, make_contact, make_company, products):
    seat, _book = products
    retail = make_company(industry="Retail")
    chosen = make_contact(tags=["vip"], company_id=retail.id)
    no_tag = make_contact(company_id=retail.id)
    elsewhere = make_contact(tags=["vip"])
    for contact in (chosen, no_tag, elsewhere):
        _order(records, contact, [{"product_id": seat.id, "quantity": "1"}])
    segment = _segment(
        records,
        [{"type": "bought_product", "product_id": seat.id}],
        query="tags=vip",
        company_query="industry=retail",
    )
    assert _ids(records, segment) == {chosen.id}


def test_members_over_the_api(api, records, make_contact, products):
    seat, _book = products
    buyers = [make_contact() for _ in range(3)]
    make_contact()
    for contact in buyers:
        _order(records, contact, [{"product_id": seat.id, "quantity": "1"}])
    created = api.post(
        "/api/v1/segments",
        json={
            "name": "Seat buyers",
            "conditions": [{"type": "bought_product", "product_id": seat.id}],
        },
    )
    assert created.status_code == 201, created.get_json()
    segment_id = created.get_json()["id"]
    page = api.get(f"/api/v1/segments/{segment_id}/members").get_json()
    assert sorted(c["id"] for c in page["data"]) == sorted(c.id for c in buyers)
    assert api.get(f"/api/v1/segments/{segment_id}/count").get_json()["member_count"] == 3


@pytest.mark.parametrize(
    ("condition", "words"),
    [
        ({"type": "bought_product", "product_id": 999999}, "no product with id 999999"),
        ({"type": "bought_product"}, "needs product_id"),
        ({"type": "bought_product", "product_id": "x"}, "whole number"),
        ({"type": "bought_product", "product_id": True}, "whole number"),
        ({"type": "bought_product", "product_id": 2**40}, "between"),
        ({"type": "no_order_in_days", "days": 0}, "between 1 and"),
        ({"type": "no_order_in_days", "days": 1.5}, "whole number"),
        ({"type": "lifetime_value_over", "amount": "ten", "currency": "EUR"}, "amount"),
        ({"type": "lifetime_value_over", "amount": "-1", "currency": "EUR"}, "amount"),
        ({"type": "lifetime_value_over", "amount": "1.001", "currency": "EUR"}, "two decimals"),
        ({"type": "lifetime_value_over", "amount": "NaN", "currency": "EUR"}, "amount"),
        ({"type": "lifetime_value_over", "amount": "1e30", "currency": "EUR"}, "amount"),
        ({"type": "lifetime_value_over", "amount": "10", "currency": "EURO"}, "ISO 4217"),
        ({"type": "lifetime_value_over", "amount": "10"}, "needs currency"),
        ({"type": "bought_product", "product_id": 1, "extra": 1}, "not extra"),
        ({"type": "made_a_wish"}, "type must be one of"),
        ({}, "type must be one of"),
    ],
)
def test_bad_conditions_are_422(api, products, condition, words):
    response = api.post(
        "/api/v1/segments",
        json={
            "name": "Bad",
            "conditions": [{"type": "no_order_in_days", "days": 30}, condition],
        },
    )
    assert response.status_code == 422, response.get_json()
    messages = response.get_json()["errors"]["conditions"]
    assert len(messages) == 1 and messages[0].startswith("Condition 2:"), messages
    assert words in messages[0], messages


def test_conditions_are_objects(api):
    response = api.post("/api/v1/segments", json={"name": "Bad", "conditions": ["bought_product"]})
    assert response.status_code == 422
    assert "conditions" in response.get_json()["errors"]


def test_conditions_must_be_a_short_list(api):
    response = api.post(
        "/api/v1/segments",
        json={"name": "Many", "conditions": [{"type": "no_order_in_days", "days": 1}] * 21},
    )
    assert response.status_code == 422
    assert "At most 20" in response.get_json()["errors"]["conditions"][0]


def _segment_editor(records: Any, make_user: Any) -> Any:
    """A user who may edit segments and read contacts, but not read orders."""
    records.create(
        "roles",
        {
            "name": "list_keeper",
            "title": "List keeper",
            "grants": {
                "segments": {"read": "all", "create": "all", "update": "all"},
                "contacts": {"read": "all"},
            },
            "permissions": [],
        },
    )
    return make_user("list_keeper")


def test_marketers_read_orders_for_purchase_segments(api_as, make_user, products):
    seat, _book = products
    body = {"name": "Buyers", "conditions": [{"type": "bought_product", "product_id": seat.id}]}
    response = api_as(make_user("marketer")).post("/api/v1/segments", json=body)
    assert response.status_code == 201, response.get_json()


def test_conditions_need_permission_to_read_orders(api_as, make_user, records, products):
    marketer = _segment_editor(records, make_user)  # segments yes, orders no
    seat, _book = products
    body = {"name": "Buyers", "conditions": [{"type": "bought_product", "product_id": seat.id}]}
    response = api_as(marketer).post("/api/v1/segments", json=body)
    assert response.status_code == 422
    assert "may not read orders" in response.get_json()["errors"]["conditions"][0]
    # without conditions the same user saves segments
    assert api_as(marketer).post("/api/v1/segments", json={"name": "All"}).status_code == 201


def test_orders_follow_the_readers_scope(api_as, make_user, make_contact, records, products):
    seat, _book = products
    rep = make_user("sales_rep")
    role = rep.role
    records.update("roles", role, {"grants": {**role.grants, "segments": {"read": "all"}}})
    mine = make_contact(owner_id=rep.id)
    sold_by_other = make_contact(owner_id=rep.id)
    _order(records, mine, [{"product_id": seat.id, "quantity": "1"}], owner_id=rep.id)
    _order(records, sold_by_other, [{"product_id": seat.id, "quantity": "1"}])
    segment = _segment(records, [{"type": "bought_product", "product_id": seat.id}])
    client = api_as(rep)
    page = client.get(f"/api/v1/segments/{segment.id}/members").get_json()
    assert [c["id"] for c in page["data"]] == [mine.id]
    assert count(records, segment) == 2  # the system sees every order


def test_a_reader_who_may_not_read_orders_gets_403(api_as, make_user, records, products):
    seat, _book = products
    marketer = _segment_editor(records, make_user)
    segment = _segment(records, [{"type": "bought_product", "product_id": seat.id}])
    for url in (f"/api/v1/segments/{segment.id}/members", f"/api/v1/segments/{segment.id}/count"):
        response = api_as(marketer).get(url)
        assert response.status_code == 403
        assert "orders" in response.get_json()["detail"]


def test_sales_disabled_later_refuses_to_choose(crm, api, records, products):
    from crmcore.instance import disable_plugin

    seat, _book = products
    segment = _segment(records, [{"type": "bought_product", "product_id": seat.id}])
    disable_plugin(crm, "sales")
    response = api.get(f"/api/v1/segments/{segment.id}/members")
    assert response.status_code == 409
    assert "sales plugin" in response.get_json()["detail"]


@pytest.mark.crm_plugins("marketing")
def test_conditions_are_refused_without_sales(api):
    response = api.post(
        "/api/v1/segments",
        json={"name": "Buyers", "conditions": [{"type": "no_order_in_days", "days": 90}]},
    )
    assert response.status_code == 422
    message = response.get_json()["errors"]["conditions"][0]
    assert "sales plugin" in message and "not enabled" in message
    assert (
        api.post("/api/v1/segments", json={"name": "Buyers", "conditions": []}).status_code == 201
    )
