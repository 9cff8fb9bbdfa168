"""Story: a sales rep builds a report in the browser, previews it, saves it and reads it as a
chart - at 1280 and 375 px, with no script error, no CSP violation and no sideways scroll."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from crmcore.testing.browser import (
    WIDTHS,
    api,
    assert_no_sideways_scroll,
    served_instance,
    signed_in_page,
)

PASSWORD = "Browser-test-password-1"
REP = "rep@example.com"
#: How far the page scrolls sideways (0 or less: it fits the window).


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, instance_database: str | None
) -> Iterator[dict[str, Any]]:
    """An instance with sales and insights, a sales rep and three of their deals."""
    with served_instance(
        tmp_path_factory.mktemp("insights-browser"),
        instance_database,
        plugins=["sales", "insights"],
        users={REP: "sales_rep"},
        password=PASSWORD,
    ) as served:
        for title, amount, day in (
            ("A", "10.00", "2026-01-05"),
            ("B", "20.00", "2026-01-20"),
            ("C", "30.00", "2026-02-03"),
        ):
            body = {"title": title, "amount": amount, "close_date": day}
            api(served.base, "POST", "/api/v1/deals", body, token=served.tokens[REP])
        yield {"base": served.base}


@pytest.mark.parametrize("width", WIDTHS)
def test_build_a_report(crm_browser: Any, server: dict[str, Any], width: int) -> None:
    with signed_in_page(crm_browser, server["base"], REP, PASSWORD, width) as page:
        page.goto("/insights/reports/new")
        page.locator("#f-entity").select_option("deals")
        page.locator("#f-group1").fill("close_date:month")
        page.locator("#f-measures").fill("count, sum:amount")
        page.get_by_role("button", name="Preview").click()
        preview = page.locator("section table")
        assert "30.00" in preview.inner_text()
        assert_no_sideways_scroll(page)
        page.locator("#f-name").fill(f"Deals by month {width}")
        page.locator("#f-chart").select_option("bar")
        page.get_by_role("button", name="Save the report").click()
        page.wait_for_url(re.compile(r".*/insights/reports/\d+$"))
        assert page.locator("canvas[data-chart]").count() == 1
        page.wait_for_function("document.querySelector('canvas[data-chart]').dataset.drawn")
        assert_no_sideways_scroll(page)
        page.get_by_role("link", name="Table").click()
        page.wait_for_load_state()  # the click navigates: measure the new page, not none
        assert_no_sideways_scroll(page)
        page.get_by_role("link", name="2").first.click()  # drill down: January's two deals
        page.wait_for_url(re.compile(r".*/deals\?.*close_date__gte=2026-01-01.*"))
        assert page.locator("main").get_by_text("A", exact=True).count() >= 1


@pytest.mark.parametrize("width", WIDTHS)
def test_pin_and_schedule_a_report(crm_browser: Any, server: dict[str, Any], width: int) -> None:
    """The rep pins a report over a custom range of closing dates and schedules it; an address
    outside the CRM is refused on its field with nothing typed lost; the dashboard then shows
    the report's chart and its rows of that range only."""
    name = f"January deals {width}"
    with signed_in_page(crm_browser, server["base"], REP, PASSWORD, width) as page:
        page.goto("/insights/reports/new")
        page.locator("#f-name").fill(name)
        page.locator("#f-entity").select_option("deals")
        page.locator("#f-group1").fill("close_date:month")
        page.locator("#f-measures").fill("count")
        page.locator("#f-chart").select_option("bar")
        page.locator("#f-pinned").check()
        page.locator("#f-pin_range").select_option("custom")
        page.locator("#f-pin_field").fill("close_date")
        page.locator("#f-pin_from").fill("2026-01-01")
        page.locator("#f-pin_to").fill("2026-01-31")
        page.locator("#f-schedule").select_option("weekly")
        page.locator("#f-recipients").fill(f"{REP}, outsider@example.org")
        page.get_by_role("button", name="Save the report").click()
        page.wait_for_load_state()
        error = page.locator("#e-recipients")
        assert "active users of this CRM" in error.inner_text()
        assert page.locator("#f-recipients").get_attribute("aria-invalid") == "true"
        assert page.locator("#f-name").input_value() == name  # nothing typed is lost
        assert page.locator("#f-pin_from").input_value() == "2026-01-01"
        assert_no_sideways_scroll(page)
        page.locator("#f-recipients").fill(REP)
        page.get_by_role("button", name="Save the report").click()
        page.wait_for_url(re.compile(r".*/insights/reports/\d+$"))
        page.goto("/")
        heading = page.get_by_role("heading", name="Pinned reports")
        widget = page.locator("section.widget", has=heading)
        table = widget.locator("table", has=page.locator("caption", has_text=name))
        assert table.locator("tbody tr").count() == 1  # January only: February is out of range
        assert table.locator("tbody td").last.inner_text().strip() == "2"
        assert widget.locator("canvas[data-chart]").count() == 1
        page.wait_for_function("document.querySelector('canvas[data-chart]').dataset.drawn")
        assert_no_sideways_scroll(page)
