"""The quote line editor in a real browser (Debian's Chromium, Playwright, `crm serve`): a sales
rep builds a quote of two product lines with the product picker and sees the totals follow,
on a desktop and on a phone."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from crmcore.testing.browser import (
    WIDTHS,
    api,
    served_instance,
)

PASSWORD = "Browser-test-password-1"


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, instance_database: str | None
) -> Iterator[dict[str, Any]]:
    """Sales enabled, two products priced in euros, a rep to sign in as."""
    with served_instance(
        tmp_path_factory.mktemp("sales-lines"),
        instance_database,
        plugins=["sales"],
        users={"admin@example.com": "admin", "rep@example.com": "sales_rep"},
        password=PASSWORD,
    ) as served:
        token = served.tokens["admin@example.com"]
        for sku, name, price, rate in (
            ("SEAT", "CRM seat", "240.00", "21"),
            ("GOLD", "Gold support", "100.00", "10"),
        ):
            api(
                served.base,
                "POST",
                "/api/v1/products",
                {"sku": sku, "name": name, "prices": {"EUR": price}, "tax_rate": rate},
                token,
            )
        yield {"base": served.base, "token": token}


@pytest.mark.parametrize("width", WIDTHS)
def test_a_rep_builds_a_quote_with_the_product_picker(
    crm_browser: Any, server: dict[str, Any], width: int
) -> None:
    from playwright.sync_api import expect

    base = server["base"]
    page = crm_browser.new_page(viewport={"width": width, "height": 900})
    try:
        page.goto(base + "/login")
        page.fill("input[name=email]", "rep@example.com")
        page.fill("input[name=password]", PASSWORD)
        page.press("input[name=password]", "Enter")
        page.wait_for_url(base + "/")
        page.goto(base + "/quotes/new")
        page.fill("#f-title", f"Seats and support {width}")
        totals = page.locator("#f-lines-totals")
        page.select_option("#f-lines-0-product_id", label="SEAT · CRM seat")
        expect(page.locator("#f-lines-0-description")).to_have_value("CRM seat")
        expect(page.locator("#f-lines-0-unit_price")).to_have_value("240.00")
        expect(page.locator("#f-lines-0-quantity")).to_have_value("1")
        expect(totals).to_contain_text("€290.40")
        # the second line in a row added with the button, then its quantity typed
        page.click("button[data-line-op=add]")
        new_row = page.locator("tr[data-line-row]").last
        picker = new_row.locator("select[data-line-field=product_id]")
        picker.select_option(label="GOLD · Gold support")
        expect(new_row.locator("input[data-line-field=description]")).to_have_value("Gold support")
        new_row.locator("input[data-line-field=quantity]").fill("3")
        # 240 + 21% = 290.40; 3 x 100 + 10% = 330.00
        expect(totals).to_contain_text("€620.40")
        expect(new_row.locator("td[id$='-total']")).to_have_text("€330.00")
        width_of_page = page.evaluate("document.documentElement.scrollWidth")
        assert width_of_page <= width, width_of_page
        # a bad quantity is shown on its row while typing, and saving is refused there too
        new_row.locator("input[data-line-field=quantity]").fill("-1")
        expect(
            new_row.locator(".cell-errors").filter(has_text="Must be more than 0.")
        ).to_have_count(1)
        new_row.locator("input[data-line-field=quantity]").fill("3")
        expect(totals).to_contain_text("€620.40")
        page.click("form.record-form button[type=submit]:text-is('Save')")
        page.wait_for_url(re.compile(r".*/quotes/\d+$"))
        expect(page.locator("table.lines-view")).to_contain_text("Gold support")
        expect(page.locator("main, body").first).to_contain_text("€620.40")
        assert "product_id:" not in page.content()
    finally:
        page.close()
