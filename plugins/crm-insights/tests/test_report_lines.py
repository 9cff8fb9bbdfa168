"""Reports over line items (``orders.lines``, ``quotes.lines``): each measure on a line's
fields, grouping by product and by the order's month, the join to the product, the reader's
scope of the parent order, and bad input - on SQLite and PostgreSQL (``--crm-db``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

pytestmark = pytest.mark.crm_plugins("sales", "insights")
RUN = "/api/v1/reports/run"
REVENUE_BY_PRODUCT = {
    "entity": "orders.lines",
    "joins": ["line.product_id"],
    "group_by": ["line.product_id.name"],
    "measures": ["sum:line.net"],
    "sort": ["line.product_id.name"],
}


def run(client: Any, definition: dict[str, Any]) -> Any:
    response = client.post(RUN, json=definition)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def line(product: Any, quantity: str, price: str, discount: str = "0") -> dict[str, Any]:
    return {
        "product_id": product.id,
        "quantity": quantity,
        "unit_price": price,
        "discount_percent": discount,
        "tax_rate": "0",
    }


@pytest.fixture
def shop(records: Any, make_user: Any) -> dict[str, Any]:
    """Two products; orders of a rep and of another owner, in two months and two currencies."""
    rep = make_user("sales_rep")
    other = make_user("sales_rep")
    chair = records.create("products", {"sku": "CH", "name": "Chair", "prices": {}})
    desk = records.create("products", {"sku": "DK", "name": "Desk", "prices": {}})

    def order(owner: Any, day: str, lines: list[dict[str, Any]], currency: str = "EUR") -> Any:
        data = {"owner_id": owner.id, "order_date": day, "currency": currency, "lines": lines}
        return records.create("orders", data)

    order(rep, "2026-01-10", [line(chair, "2", "10.00"), line(desk, "1", "100.00", "10")])
    order(rep, "2026-02-03", [line(chair, "3", "10.00")])
    order(rep, "2026-02-20", [line(desk, "1", "90.00")], currency="USD")
    order(other, "2026-01-15", [line(chair, "5", "10.00"), line(desk, "2", "100.00")])
    order(rep, "2026-02-25", [])  # no lines: counts nothing
    records.create("quotes", {"currency": "EUR", "lines": [line(desk, "7", "100.00")]})
    return {"rep": rep, "other": other, "chair": chair, "desk": desk}


def test_revenue_by_product_keeps_currencies_apart(api: Any, shop: dict[str, Any]) -> None:
    out = run(api, REVENUE_BY_PRODUCT)
    assert out["entity"] == "orders.lines"
    assert [c["key"] for c in out["columns"]] == [
        "line.product_id.name",
        "currency",
        "sum:line.net",
    ]
    got = {
        (r["line.product_id.name"], r["currency"]): Decimal(r["sum:line.net"]) for r in out["rows"]
    }
    assert got == {
        ("Chair", "EUR"): Decimal("100.00"),  # 20 + 30 + 50
        ("Desk", "EUR"): Decimal("290.00"),  # 90 (10 % off) + 200
        ("Desk", "USD"): Decimal("90.00"),
    }
    assert all(r["_filter"] is None for r in out["rows"])  # no list shows lines


def test_every_measure_on_lines(api: Any, shop: dict[str, Any]) -> None:
    out = run(
        api,
        {
            "entity": "orders.lines",
            "filters": {"currency": "EUR"},
            "measures": [
                "count",
                "sum:line.quantity",
                "avg:line.unit_price",
                "min:line.unit_price",
                "max:line.total",
                "count_distinct:line.product_id",
                "max:line.discount_percent",
            ],
        },
    )
    row = out["rows"][0]
    assert row["count"] == 5
    assert Decimal(row["sum:line.quantity"]) == Decimal("13")
    assert Decimal(row["avg:line.unit_price"]) == Decimal("46.00")  # (10+100+10+10+100) / 5
    assert Decimal(row["min:line.unit_price"]) == Decimal("10")
    assert Decimal(row["max:line.total"]) == Decimal("200")
    assert row["count_distinct:line.product_id"] == 2
    assert Decimal(row["max:line.discount_percent"]) == Decimal("10")


def test_group_by_product_id_names_it(api: Any, shop: dict[str, Any]) -> None:
    out = run(
        api, {"entity": "orders.lines", "group_by": ["line.product_id"], "measures": ["count"]}
    )
    got = {r["line.product_id"]: (r["line.product_id_name"], r["count"]) for r in out["rows"]}
    assert got == {shop["chair"].id: ("Chair", 3), shop["desk"].id: ("Desk", 3)}


def test_group_by_product_and_order_month(api: Any, shop: dict[str, Any]) -> None:
    out = run(
        api,
        {
            "entity": "orders.lines",
            "joins": ["line.product_id"],
            "group_by": ["line.product_id.name", "order_date:month"],
            "measures": ["sum:line.net", "sum:line.quantity"],
            "filters": {"currency": "EUR"},
        },
    )
    got = {
        (r["line.product_id.name"], r["order_date:month"]): Decimal(r["sum:line.net"])
        for r in out["rows"]
    }
    assert got == {
        ("Chair", "2026-01-01"): Decimal("70.00"),
        ("Chair", "2026-02-01"): Decimal("30.00"),
        ("Desk", "2026-01-01"): Decimal("290.00"),
    }


def test_filters_on_the_joined_product(api: Any, shop: dict[str, Any]) -> None:
    out = run(
        api,
        {**REVENUE_BY_PRODUCT, "filters": {"line.product_id.sku": "CH"}},
    )
    assert [(r["line.product_id.name"], r["sum:line.net"]) for r in out["rows"]] == [
        ("Chair", "100.00")
    ]


def test_quote_lines_are_a_source_too(api: Any, shop: dict[str, Any]) -> None:
    out = run(api, {"entity": "quotes.lines", "measures": ["count", "sum:line.quantity"]})
    assert out["rows"][0]["count"] == 1
    assert Decimal(out["rows"][0]["sum:line.quantity"]) == Decimal("7")


def test_a_rep_counts_only_lines_of_orders_they_may_read(api_as: Any, shop: dict[str, Any]) -> None:
    out = run(api_as(shop["rep"]), REVENUE_BY_PRODUCT)
    got = {
        (r["line.product_id.name"], r["currency"]): Decimal(r["sum:line.net"]) for r in out["rows"]
    }
    # the other owner's order (5 chairs, 2 desks) is not counted
    assert got == {
        ("Chair", "EUR"): Decimal("50.00"),
        ("Desk", "EUR"): Decimal("90.00"),
        ("Desk", "USD"): Decimal("90.00"),
    }
    count = run(api_as(shop["other"]), {"entity": "orders.lines", "measures": ["count"]})
    assert count["rows"][0]["count"] == 2


def test_a_product_the_reader_may_not_read_is_not_named(
    api_as: Any, shop: dict[str, Any], make_user: Any, session: Any
) -> None:
    from crmcore.users.models import Role

    role = Role(
        name="orders_only",
        title="Orders only",
        grants={"orders": {"read": "all"}},
        permissions=[],
    )
    session.add(role)
    session.commit()
    reader = make_user("orders_only")
    refused = api_as(reader).post(RUN, json=REVENUE_BY_PRODUCT)
    assert refused.status_code == 422
    assert "joins.0" in refused.get_json()["errors"]
    out = run(
        api_as(reader),
        {"entity": "orders.lines", "group_by": ["line.product_id"], "measures": ["count"]},
    )
    assert {r["line.product_id_name"] for r in out["rows"]} == {None}


@pytest.mark.parametrize(
    ("definition", "part"),
    [
        ({"measures": ["sum:line.secret"]}, "measures.0.field"),
        ({"group_by": ["line.nope"], "measures": ["count"]}, "group_by.0.field"),
        ({"measures": ["sum:line.description"]}, "measures.0.field"),  # text: distinct count only
        ({"joins": ["line.quantity"], "measures": ["count"]}, "joins.0"),
        ({"joins": ["line.nope"], "measures": ["count"]}, "joins.0"),
        ({"group_by": ["line.product_id.name"], "measures": ["count"]}, "group_by.0.field"),
        (
            {"filters": {"line.quantity__gte": "2"}, "measures": ["count"]},
            "filters.line.quantity__gte",
        ),
        (
            {"filters": {"line.product_id.name": "x"}, "measures": ["count"]},
            "filters.line.product_id.name",
        ),
    ],
)
def test_bad_line_input_is_refused_naming_the_part(
    api: Any, shop: dict[str, Any], definition: dict[str, Any], part: str
) -> None:
    response = api.post(RUN, json={"entity": "orders.lines", **definition})
    assert response.status_code == 422
    assert part in response.get_json()["errors"], response.get_json()


@pytest.mark.parametrize(
    "entity", ["orders.nope", "orders.total", "orders.tags", "nope.lines", "orders."]
)
def test_an_unknown_line_source_is_refused(api: Any, entity: str) -> None:
    response = api.post(RUN, json={"entity": entity, "measures": ["count"]})
    assert response.status_code == 422
    assert "entity" in response.get_json()["errors"]


def test_line_fields_are_not_fields_of_a_plain_order_report(api: Any, shop: dict[str, Any]) -> None:
    response = api.post(RUN, json={"entity": "orders", "measures": ["sum:line.net"]})
    assert response.status_code == 422
    assert "measures.0.field" in response.get_json()["errors"]


def test_openapi_documents_line_sources(api: Any) -> None:
    spec = api.get("/api/v1/openapi.json").get_json()
    schema = spec["components"]["schemas"]["ReportDefinition"]
    assert "orders.lines" in schema["properties"]["entity"]["description"]


def test_a_lines_value_that_is_not_a_list_counts_no_line(
    api: Any, shop: dict[str, Any], records: Any, session: Any
) -> None:
    odd = records.create("orders", {"currency": "EUR", "lines": []})
    odd.lines = {"product_id": shop["chair"].id, "net": "5.00"}  # set-up only: a hand-made row
    session.commit()
    odd_too = records.create("orders", {"currency": "EUR", "lines": []})
    odd_too.lines = [3, "x", None]  # lines that are no objects
    session.commit()
    out = run(api, {"entity": "orders.lines", "measures": ["count", "sum:line.net"]})
    assert sum(r["count"] for r in out["rows"]) == 6  # the fixture's lines, no other


def test_a_hand_edited_line_with_values_of_no_type_reads_as_empty(
    api: Any, shop: dict[str, Any], records: Any, session: Any
) -> None:
    odd = records.create("orders", {"currency": "EUR", "lines": []})
    odd.lines = [{"product_id": "x", "quantity": "lots", "net": "1e999", "total": True}]
    session.commit()  # set-up only: data no form or API would store
    out = run(
        api,
        {
            "entity": "orders.lines",
            "group_by": ["line.product_id"],
            "measures": ["count", "sum:line.quantity", "max:line.net", "sum:line.total"],
            "filters": {"id": str(odd.id)},
        },
    )
    row = out["rows"][0]
    assert row["count"] == 1 and row["line.product_id"] in (None, 0)  # SQLite casts to 0
    assert row["sum:line.quantity"] in (None, "0")  # SQLite reads text as 0, PostgreSQL as empty
