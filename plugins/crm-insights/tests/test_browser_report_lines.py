"""Story: a sales rep builds "revenue by product" over order lines in the browser, pins it on
the order date and switches its range on the dashboard - at 1280 and 375 px, with no script
error, no CSP violation and no sideways scroll. Another owner's order is never counted."""

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
BOSS = "boss@example.com"


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, instance_database: str | None
) -> Iterator[dict[str, Any]]:
    """Two products, two January orders of the rep and a bigger one of another owner."""
    with served_instance(
        tmp_path_factory.mktemp("insights-lines-browser"),
        instance_database,
        plugins=["sales", "insights"],
        users={BOSS: "admin", REP: "sales_rep"},
        password=PASSWORD,
    ) as served:
        boss, rep = served.tokens[BOSS], served.tokens[REP]
        ids = {}
        for sku, name in (("CH", "Chair"), ("DK", "Desk")):
            body = {"sku": sku, "name": name, "prices": {"EUR": "10.00"}}
            ids[sku] = api(served.base, "POST", "/api/v1/products", body, token=boss)["id"]

        def line(sku: str, quantity: str, price: str) -> dict[str, Any]:
            return {"product_id": ids[sku], "quantity": quantity, "unit_price": price}

        for token, day, lines in (
            (rep, "2026-01-05", [line("CH", "2", "10.00"), line("DK", "1", "100.00")]),
            (rep, "2026-01-20", [line("CH", "1", "10.00")]),
            (boss, "2026-01-21", [line("CH", "50", "10.00")]),  # not the rep's
        ):
            body = {"currency": "EUR", "order_date": day, "lines": lines}
            api(served.base, "POST", "/api/v1/orders", body, token=token)
        yield {"base": served.base}


@pytest.mark.parametrize("width", WIDTHS)
def test_revenue_by_product_pinned_and_switched(
    crm_browser: Any, server: dict[str, Any], width: int
) -> None:
    name = f"Revenue by product {width}"
    with signed_in_page(crm_browser, server["base"], REP, PASSWORD, width) as page:
        page.goto("/insights/reports/new")
        page.locator("#f-name").fill(name)
        page.locator("#f-entity").select_option(label="Orders: Lines")
        page.locator("#f-joins").fill("line.product_id")
        page.locator("#f-group1").fill("line.product_id.name")
        page.locator("#f-measures").fill("sum:line.net")
        page.get_by_role("button", name="Preview").click()
        page.wait_for_load_state()
        preview = page.locator("section table").inner_text()
        assert "Chair" in preview and "30.00" in preview  # 2 + 1 chairs: not the boss's 50
        assert "Desk" in preview and "100.00" in preview and "530" not in preview
        assert_no_sideways_scroll(page)
        page.locator("#f-chart").select_option("bar")
        page.locator("#f-pinned").check()
        page.locator("#f-pin_range").select_option("custom")
        page.locator("#f-pin_field").fill("order_date")
        page.locator("#f-pin_from").fill("2026-01-01")
        page.locator("#f-pin_to").fill("2026-01-10")
        page.get_by_role("button", name="Save the report").click()
        page.wait_for_url(re.compile(r".*/insights/reports/\d+$"))

        page.goto("/")
        heading = page.get_by_role("heading", name="Pinned reports")
        widget = page.locator("section.widget", has=heading)
        caption = widget.locator("caption", has_text=name)
        assert "Custom dates: Jan 1, 2026 to Jan 10, 2026" in caption.inner_text()
        table = widget.locator("table", has=page.locator("caption", has_text=name))
        assert "20.00" in table.inner_text()  # the order of the 5th only
        assert_no_sideways_scroll(page)

        widget.get_by_label("Range", exact=True).select_option("custom")
        widget.get_by_label("From", exact=True).fill("2026-01-01")
        widget.get_by_label("To", exact=True).fill("2026-01-31")
        widget.get_by_role("button", name="Apply").click()
        page.wait_for_url(re.compile(r".*insights_range=custom.*"))
        caption = widget.locator("caption", has_text=name)
        assert "Jan 1, 2026 to Jan 31, 2026" in caption.inner_text()
        assert (
            "30.00"
            in widget.locator("table", has=page.locator("caption", has_text=name)).inner_text()
        )
        assert widget.get_by_label("Range", exact=True).input_value() == "custom"
        assert_no_sideways_scroll(page)

        widget.get_by_label("Range", exact=True).select_option("this_month")
        widget.get_by_role("button", name="Apply").click()
        page.wait_for_url(re.compile(r".*insights_range=this_month.*"))
        # no order this month: the report's title says the range, with no row under it
        assert widget.get_by_text(f"{name} (This month: ").count() == 1
        assert "Chair" not in widget.inner_text()
        assert_no_sideways_scroll(page)
