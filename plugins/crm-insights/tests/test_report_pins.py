"""Reports pinned to the dashboard over a date range, in the viewer's scope."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from crm_insights.reports.pins import date_range

pytestmark = pytest.mark.crm_plugins("sales", "insights")
TODAY = dt.date(2026, 2, 15)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("this_month", (dt.date(2026, 2, 1), dt.date(2026, 3, 1))),
        ("last_month", (dt.date(2026, 1, 1), dt.date(2026, 2, 1))),
        ("this_quarter", (dt.date(2026, 1, 1), dt.date(2026, 4, 1))),
        ("last_quarter", (dt.date(2025, 10, 1), dt.date(2026, 1, 1))),
        ("this_year", (dt.date(2026, 1, 1), dt.date(2027, 1, 1))),
    ],
)
def test_date_ranges(name: str, expected: tuple[dt.date, dt.date]) -> None:
    assert date_range(name, TODAY) == expected


def test_custom_range_includes_its_last_day() -> None:
    got = date_range("custom", TODAY, dt.date(2026, 1, 5), dt.date(2026, 1, 9))
    assert got == (dt.date(2026, 1, 5), dt.date(2026, 1, 10))


def pin(api: Any, **fields: Any) -> Any:
    body = {
        "name": "Pinned deals",
        "chart": "bar",
        "pinned": True,
        "definition": {"entity": "deals", "group_by": ["probability"], "measures": ["count"]},
        **fields,
    }
    return api.post("/api/v1/reports", json=body)


def test_pinned_report_on_the_dashboard_with_a_custom_range(
    api: Any, web: Any, make_deal: Any
) -> None:
    make_deal("In", close_date="2026-01-05", probability=30)
    make_deal("In too", close_date="2026-01-09", probability=30)
    make_deal("Out", close_date="2026-01-10", probability=30)
    created = pin(
        api, pin_range="custom", pin_field="close_date", pin_from="2026-01-05", pin_to="2026-01-09"
    )
    assert created.status_code == 201, created.get_json()
    html = web.get("/").get_data(as_text=True)
    assert "Pinned deals" in html and "data-chart=" in html
    assert '"data": [2]' in html.replace("[2.0]", "[2]")


def test_this_month_on_creation_dates(api: Any, web: Any, make_deal: Any) -> None:
    make_deal("Now", probability=40)
    assert pin(api, pin_range="this_month").status_code == 201
    html = web.get("/").get_data(as_text=True)
    assert "Pinned deals" in html


def test_pins_are_checked_when_saved(api: Any) -> None:
    response = pin(api, pin_range="this_month", pin_field="title")
    assert response.status_code == 422
    assert list(response.get_json()["errors"]) == ["pin_field"]
    response = pin(api, pin_range="custom", pin_field="close_date", pin_from="2026-02-01")
    assert list(response.get_json()["errors"]) == ["pin_from"]
    assert pin(api, pin_range="someday").status_code == 422


def test_others_private_pins_stay_off_my_dashboard(
    api_as: Any, web_as: Any, make_user: Any
) -> None:
    owner, other = make_user("sales_rep"), make_user("sales_rep")
    assert pin(api_as(owner), name="Secret pin").status_code == 201
    assert "Secret pin" in web_as(owner).get("/").get_data(as_text=True)
    assert "Secret pin" not in web_as(other).get("/").get_data(as_text=True)
