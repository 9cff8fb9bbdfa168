"""The builder offers line sources (no name typed by hand), previews "revenue by product",
and a report over lines pins to the dashboard on its order's date."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest

pytestmark = pytest.mark.crm_plugins("sales", "insights")
NEW = "/insights/reports/new"


def token(client: Any) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(NEW).get_data(as_text=True))
    assert found
    return found.group(1)


def revenue_form(client: Any, **extra: str) -> dict[str, str]:
    return {
        "csrf_token": token(client),
        "name": "Revenue by product",
        "entity": "orders.lines",
        "joins": "line.product_id",
        "group1": "line.product_id.name",
        "measures": "sum:line.net",
        "limit": "500",
        "visibility": "private",
        "chart": "bar",
        **extra,
    }


@pytest.fixture
def order(records: Any) -> Any:
    chair = records.create("products", {"sku": "CH", "name": "Chair", "prices": {}})
    line = {"product_id": chair.id, "quantity": "2", "unit_price": "10.00", "tax_rate": "0"}
    return records.create(
        "orders", {"currency": "EUR", "order_date": "2026-01-10", "lines": [line]}
    )


def test_the_builder_offers_line_sources(web: Any) -> None:
    page = web.get(NEW).get_data(as_text=True)
    assert '<option value="orders.lines"' in page and '<option value="quotes.lines"' in page
    assert re.search(r'<option value="orders.lines" >Orders: Lines</option>', page)
    chosen = web.get(NEW + "?entity=orders.lines").get_data(as_text=True)
    assert '<option value="orders.lines" selected>' in chosen


def test_the_builder_previews_revenue_by_product(web: Any, order: Any) -> None:
    response = web.post(NEW, data=revenue_form(web))
    assert response.status_code == 200
    page = html.unescape(response.get_data(as_text=True))
    assert "Chair" in page and "20.00" in page
    assert "line.quantity" in page  # the fields hint names the line's fields


def test_a_line_filter_is_refused_on_the_filters_field(web: Any, order: Any) -> None:
    response = web.post(NEW, data=revenue_form(web, filters="line.quantity__gte=2"))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert re.search(r'id="e-filters">Filters apply to the parent record', page)


def test_a_lines_report_pins_on_the_order_date(web: Any, order: Any) -> None:
    pinned = {"pinned": "on", "pin_range": "custom", "pin_from": "2026-01-01"}
    data = revenue_form(web, action="save", pin_field="line.quantity", **pinned)
    data["pin_to"] = "2026-01-31"
    refused = web.post(NEW, data=data)
    assert refused.status_code == 422
    assert 'id="e-pin_field"' in refused.get_data(as_text=True)
    saved = web.post(NEW, data={**data, "pin_field": "order_date"})
    assert saved.status_code == 303
    home = html.unescape(web.get("/").get_data(as_text=True))
    assert "Revenue by product (Custom dates: Jan 1, 2026 to Jan 31, 2026)" in home
    assert "Chair" in home
    outside = html.unescape(web.get("/?insights_range=this_month").get_data(as_text=True))
    section = outside.split("Revenue by product (This month")[1][:600]
    assert "Chair" not in section
