"""A sales rep's afternoon in a real browser (Debian's Chromium driven by Playwright against
`crm serve`), at desktop and phone widths: an order ships in two partial shipments made from
its page, both are marked delivered, the order then has nothing left to ship; the forecast
is filtered by period and pipeline; neither the board nor the forecast widens the page.
The API only seeds the order and a deal."""

from __future__ import annotations

import re
from typing import Any

from crmcore.testing.browser import api

call = api
NO_PAGE_SCROLL = "document.documentElement.scrollWidth <= window.innerWidth"


def _settle(page: Any) -> None:
    """Let the line editor's live preview (sent 500 ms after typing) answer before saving, so
    that saving does not abort it."""
    page.keyboard.press("Tab")
    page.wait_for_timeout(700)
    page.wait_for_load_state("networkidle")


def _ship(page: Any, order_id: int, quantities: dict[int, str] | None, tracking: str) -> None:
    """From the order's page: Add a shipment, change the prefilled quantities, save."""
    from playwright.sync_api import expect

    page.goto(f"/orders/{order_id}")
    page.get_by_role("link", name="Add shipment").click()
    page.wait_for_url(re.compile(r"/shipments/new\?order_id=\d+$"))
    page.locator("#f-carrier").fill("UPS")
    page.locator("#f-tracking_number").fill(tracking)
    for row, quantity in (quantities or {}).items():
        page.locator(f'[name="lines-{row}-quantity"]').fill(quantity)
        _settle(page)
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(re.compile(r"/shipments/\d+$"))
    expect(page.get_by_text(tracking).first).to_be_visible()


def test_rep_ships_an_order_in_two_parcels_and_delivers_them(
    page: Any, server: dict[str, Any]
) -> None:
    from playwright.sync_api import expect

    width = page.viewport_size["width"]
    order = call(
        server["base"],
        "POST",
        "/api/v1/orders",
        {
            "status": "confirmed",
            "lines": [
                {"description": "Chair", "quantity": "5", "unit_price": "10.00"},
                {"description": "Desk", "quantity": "2", "unit_price": "100.00"},
            ],
        },
        server["token"],
    )
    page.goto(f"/orders/{order['id']}")
    expect(page.locator("#to-ship-status")).to_have_text("Some lines are still to ship.")
    # the first parcel: 2 chairs and 1 desk; too many chairs is refused on the row, kept typed
    page.get_by_role("link", name="Add shipment").click()
    page.locator("#f-carrier").fill("UPS")
    page.locator('[name="lines-0-quantity"]').fill("9")
    _settle(page)
    page.get_by_role("button", name="Save").click()
    on_row = page.locator("td .field-error", has_text="More than is left to ship on this line.")
    expect(on_row).to_be_visible()  # on the row that asked too much
    expect(page.locator('[name="lines-0-quantity"]')).to_have_value("9")
    _ship(page, order["id"], {0: "2", 1: "1"}, f"1Z-A-{width}")
    page.goto(f"/orders/{order['id']}")
    to_ship = page.locator("#to-ship tbody tr")
    expect(to_ship.nth(0).locator("td").nth(4)).to_have_text("3")
    expect(to_ship.nth(1).locator("td").nth(4)).to_have_text("1")
    # the second parcel takes what is left, as prefilled
    _ship(page, order["id"], None, f"1Z-B-{width}")
    page.goto(f"/orders/{order['id']}")
    expect(page.locator("#to-ship-status")).to_have_text("Everything is shipped.")
    assert page.evaluate(NO_PAGE_SCROLL)
    links = page.locator(".sales-shipments a[href^='/shipments/']")
    expect(links).to_have_count(2)
    hrefs = [links.nth(i).get_attribute("href") for i in range(2)]
    for href in hrefs:
        page.goto(str(href))
        page.get_by_role("button", name="Mark shipped").click()
        expect(page.get_by_text("Marked as shipped.")).to_be_visible()
        page.get_by_role("button", name="Mark delivered").click()
        expect(page.get_by_text("Marked as delivered.")).to_be_visible()
        expect(page.get_by_role("button", name="Mark delivered")).to_be_disabled()
    for href in hrefs:
        shipment = call(server["base"], "GET", f"/api/v1{href}", None, server["token"])
        assert shipment["status"] == "delivered"
        assert shipment["shipped_at"] and shipment["delivered_at"]
    # the order followed its parcels: delivered once both arrived
    page.goto(f"/orders/{order['id']}")
    expect(page.locator(".detail-fields, dl").first).to_contain_text("Delivered")
    assert (
        call(server["base"], "GET", f"/api/v1/orders/{order['id']}", None, server["token"])[
            "status"
        ]
        == "delivered"
    )


def test_rep_filters_the_forecast_and_the_board_fits(page: Any, server: dict[str, Any]) -> None:
    from playwright.sync_api import expect

    width = page.viewport_size["width"]
    call(
        server["base"],
        "POST",
        "/api/v1/deals",
        {"title": f"Fleet {width}", "amount": "1000.00", "close_date": "2031-05-10"},
        server["token"],
    )
    page.goto("/")
    page.goto("/sales/forecast")
    page.get_by_label("Period").select_option("quarter")
    page.get_by_label("Pipeline").select_option(label="Sales")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(re.compile(r"period=quarter"))
    row = page.locator('#forecast-table tr[data-period="2031-Q2"]')
    expect(row).to_be_visible()
    assert page.evaluate(NO_PAGE_SCROLL)
    page.goto("/sales/forecast?pipeline_id=999999")
    expect(page.locator("#f-pipeline_id-error")).to_be_visible()
    page.goto("/sales/board")
    expect(page.locator(".sales-total").first).to_be_visible()
    assert page.evaluate(NO_PAGE_SCROLL), "the board widens the page"
    board = page.locator(".sales-board")
    box = board.bounding_box()
    assert box is not None and box["x"] + box["width"] <= width + 1
