"""Finishing a sale in a real browser (Debian's Chromium driven by Playwright against
`crm serve`): a sales rep converts a lead through its dialog and lands on the new deal, then
turns a quote into an order with one click - at desktop and phone widths, no API call for
what the pages do (the API only seeds the lead and the quote)."""

from __future__ import annotations

import re
from typing import Any

from crmcore.testing.browser import api

call = api


def test_rep_converts_a_lead_in_the_dialog_and_lands_on_the_deal(
    page: Any, server: dict[str, Any]
) -> None:
    from playwright.sync_api import expect

    lead = call(
        server["base"],
        "POST",
        "/api/v1/leads",
        {"first_name": "Grace", "last_name": "Hopper", "company_name": "Compilers Inc"},
        server["token"],
    )
    page.goto(f"/leads/{lead['id']}")
    page.get_by_role("link", name="Convert").click()
    dialog = page.locator("#action-convert-dialog")
    expect(dialog).to_be_visible()
    width = page.viewport_size["width"]
    box = dialog.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width
    dialog.get_by_label("Create deal").check()
    dialog.get_by_label("Deal title").fill(f"Compiler licences {width}")
    pipeline = dialog.get_by_role("combobox", name="Pipeline")  # the picker of record forms
    pipeline.press("ArrowDown")  # opens it with the first pipelines
    option = dialog.get_by_role("option", name="Sales", exact=True)
    expect(option).to_be_visible()
    for _ in range(5):  # the keyboard, as a person would
        if option.get_attribute("aria-selected") == "true":
            break
        pipeline.press("ArrowDown")
    expect(option).to_have_attribute("aria-selected", "true")
    pipeline.press("Enter")
    expect(pipeline).to_have_value("Sales")
    dialog.get_by_role("button", name="Convert").click()
    page.wait_for_url(re.compile(r"/deals/\d+$"))
    expect(page.get_by_role("heading", name=f"Compiler licences {width}", level=1)).to_be_visible()
    expect(page.get_by_text("Lead converted; here is the new deal.")).to_be_visible()
    page.goto(f"/leads/{lead['id']}")  # converted: the button stays, disabled, with the reason
    expect(page.get_by_role("button", name="Convert")).to_be_disabled()


def test_rep_turns_a_quote_into_an_order_by_clicking(page: Any, server: dict[str, Any]) -> None:
    from playwright.sync_api import expect

    quote = call(
        server["base"],
        "POST",
        "/api/v1/quotes",
        {
            "title": "Licences",
            "valid_until": "2099-12-31",
            "lines": [{"description": "Seat", "quantity": "3", "unit_price": "100.00"}],
        },
        server["token"],
    )
    page.goto(f"/quotes/{quote['id']}")
    expect(page.locator("#quote-pdf")).to_be_visible()
    page.get_by_role("button", name="Make an order").click()
    page.wait_for_url(re.compile(r"/orders/\d+$"))
    expect(page.get_by_text(re.compile(r"Order O-\d+ created\."))).to_be_visible()
    page.goto(f"/quotes/{quote['id']}")
    expect(page.get_by_role("button", name="Make an order")).to_be_disabled()
