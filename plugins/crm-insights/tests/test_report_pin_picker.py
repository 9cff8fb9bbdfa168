"""The range picker of the pinned reports' dashboard widget: a GET form of the dashboard, the
range that applies named on each report, bad choices refused with a message, Spanish."""

from __future__ import annotations

import datetime as dt
import html
import re
from typing import Any

import pytest

pytestmark = pytest.mark.crm_plugins("sales", "insights")


def pin(api: Any, **fields: Any) -> Any:
    body = {
        "name": "Pinned deals",
        "chart": "bar",
        "pinned": True,
        "pin_field": "close_date",
        "definition": {"entity": "deals", "group_by": ["probability"], "measures": ["count"]},
        **fields,
    }
    response = api.post("/api/v1/reports", json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


@pytest.fixture
def deals(make_deal: Any) -> None:
    make_deal("In", close_date="2025-01-05", probability=30)
    make_deal("In too", close_date="2025-01-09", probability=30)
    make_deal("Out", close_date="2025-01-10", probability=30)
    this_year = dt.date.today().isoformat()
    make_deal("This year", close_date=this_year, probability=30)


def chart_data(page: str) -> list[Any]:
    """The figures of the pinned reports' chart (other widgets have charts too)."""
    section = page.split("Pinned reports</h2>")[1].split("</section>")[0]
    found = re.search(r"data-chart='([^']+)'", section)
    assert found
    return list(re.findall(r'"data": \[([^\]]*)\]', html.unescape(found.group(1))))


def test_the_widget_shows_the_saved_range_and_a_picker(api: Any, web: Any, deals: None) -> None:
    pin(api, pin_range="custom", pin_from="2025-01-05", pin_to="2025-01-09")
    page = web.get("/").get_data(as_text=True)
    assert 'name="insights_range"' in page and 'type="date"' in page
    assert 'method="get"' in page
    assert "Pinned deals (Custom dates: Jan 5, 2025 to Jan 9, 2025)" in html.unescape(page)
    assert chart_data(page) in (["2"], ["2.0"])
    # the form adds no script of its own (the page's CSP forbids inline scripts)
    assert not re.search(r"<script(?![^>]*\bsrc=)", page)


def test_the_reader_switches_the_range(api: Any, web: Any, deals: None) -> None:
    pin(api, pin_range="custom", pin_from="2025-01-05", pin_to="2025-01-09")
    page = web.get(
        "/?insights_range=custom&insights_from=2025-01-01&insights_to=2025-01-31"
    ).get_data(as_text=True)
    assert chart_data(page) in (["3"], ["3.0"])
    assert "(Custom dates: Jan 1, 2025 to Jan 31, 2025)" in html.unescape(page)
    assert 'value="custom" selected' in page and 'value="2025-01-31"' in page
    page = web.get("/?insights_range=this_year").get_data(as_text=True)
    year = dt.date.today().year
    assert f"(This year: Jan 1, {year} to Dec 31, {year})" in html.unescape(page)
    assert chart_data(page) in (["1"], ["1.0"])
    # the saved report is unchanged: without the choice the widget shows its own range
    assert chart_data(web.get("/").get_data(as_text=True)) in (["2"], ["2.0"])


def test_a_report_pinned_without_a_range_says_all_dates(api: Any, web: Any, deals: None) -> None:
    pin(api)
    page = html.unescape(web.get("/").get_data(as_text=True))
    assert "Pinned deals (All dates)" in page
    assert "Last quarter: " in html.unescape(
        web.get("/?insights_range=last_quarter").get_data(as_text=True)
    )


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("insights_range=custom&insights_from=2026-02-01&insights_to=2025-01-01", "A custom range"),
        ("insights_range=custom&insights_from=2026-02-30&insights_to=2026-03-01", "A custom range"),
        ("insights_range=custom", "A custom range"),
        ("insights_range=%3Cb%3Eeternity", "Choose one of the ranges."),
    ],
)
def test_a_bad_choice_is_named_and_the_saved_range_kept(
    api: Any, web: Any, deals: None, query: str, message: str
) -> None:
    pin(api, pin_range="custom", pin_from="2025-01-05", pin_to="2025-01-09")
    response = web.get(f"/?{query}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert re.search(r'class="field-error" id="widget-\d+-error">' + re.escape(message), page)
    assert chart_data(page) in (["2"], ["2.0"])
    assert "<b>eternity" not in page


def test_the_picker_in_spanish(api: Any, web_as: Any, make_user: Any, deals: None) -> None:
    reader = make_user("admin", locale="es")
    pin(
        api,
        pin_range="custom",
        pin_from="2025-01-05",
        pin_to="2025-01-09",
        visibility="role",
        role_id=reader.role_id,
    )
    page = html.unescape(web_as(reader).get("/?insights_range=last_month").get_data(as_text=True))
    assert "Rango" in page and "Mes pasado" in page and "Como se guardó" in page
    assert "Pinned deals (Mes pasado: " in page
    assert "Range" not in page and "As saved" not in page
