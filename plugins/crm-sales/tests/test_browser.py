"""The deal board in a real browser: Debian's Chromium driven by Playwright against `crm serve`.

Set ``CRM_SCREENSHOTS=1`` to (re)write the screenshots of the sales guide under
``docs/screenshots/``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from crmcore.testing.browser import (
    api,
    free_port,
    instance_env,
    run_crm,
    serving,
    signed_in_page,
)

PASSWORD = "Browser-test-password-1"
SCREENSHOTS = Path(__file__).resolve().parents[3] / "docs" / "screenshots"
call = api


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, instance_database: str | None
) -> Iterator[dict[str, Any]]:
    """An instance with sales enabled, served by `crm serve`; a rep with three deals."""
    port = free_port()
    env = instance_env(tmp_path_factory.mktemp("sales-browser"), port, instance_database)
    run_crm(env, "init")
    run_crm(env, "plugins", "enable", "sales")
    run_crm(
        env,
        "users",
        "create",
        "rep@example.com",
        "--password",
        PASSWORD,
        "--role",
        "sales_rep",
        "--name",
        "Rita Rep",
    )
    with serving(env, port) as base:
        token = call(
            base, "POST", "/api/v1/auth/token", {"email": "rep@example.com", "password": PASSWORD}
        )["token"]
        stages = call(base, "GET", "/api/v1/stages?sort=position", token=token)["data"]
        deals = [
            call(
                base,
                "POST",
                "/api/v1/deals",
                {
                    "title": title,
                    "amount": amount,
                    "stage_id": stages[n]["id"],
                    "close_date": "2027-03-31",
                },
                token,
            )
            for n, (title, amount) in enumerate(
                [
                    ("Solar roof", "12000.00"),
                    ("Fleet renewal", "48000.00"),
                    ("Support plan", "3600.00"),
                ]
            )
        ]
        yield {"base": base, "token": token, "stages": stages, "deals": deals}


@pytest.fixture
def page(crm_browser: Any, server: dict[str, Any]) -> Iterator[Any]:
    """A signed-in page; fails the test on script errors and CSP violations."""
    with signed_in_page(crm_browser, server["base"], "rep@example.com", PASSWORD, 1400) as page:
        yield page


def shot(page: Any, name: str) -> None:
    if os.environ.get("CRM_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def stage_of(server: dict[str, Any], deal_id: int) -> int:
    return int(
        call(server["base"], "GET", f"/api/v1/deals/{deal_id}", token=server["token"])["stage_id"]
    )


def test_drag_a_card_to_another_stage(page: Any, server: dict[str, Any]) -> None:
    from playwright.sync_api import expect

    page.locator(".main-nav summary", has_text="Sales").click()  # the menu's Sales group
    page.get_by_role("link", name="Board").click()
    expect(page.get_by_role("heading", name="Sales", level=1)).to_be_visible()
    deal, target = server["deals"][0], server["stages"][3]
    card = page.locator(f"#deal-{deal['id']}")
    column = page.locator(f".sales-column[data-stage-id='{target['id']}']")
    shot(page, "sales-board")
    card.drag_to(column)
    expect(column.locator(f"#deal-{deal['id']}")).to_be_visible()
    expect(page.locator("#board-status")).to_have_text("Moved.")
    assert stage_of(server, deal["id"]) == target["id"]
    page.reload()  # the server kept it
    expect(column.locator(f"#deal-{deal['id']}")).to_be_visible()


def test_keyboard_alternative(page: Any, server: dict[str, Any]) -> None:
    from playwright.sync_api import expect

    page.goto("/sales/board")
    deal, target = server["deals"][1], server["stages"][4]
    page.get_by_label(f"Stage of {deal['title']}").select_option(label=target["name"])
    page.locator(f"#deal-{deal['id']}").get_by_role("button", name="Move").click()
    expect(page.get_by_text(f"{deal['title']}: moved.")).to_be_visible()
    column = page.locator(f".sales-column[data-stage-id='{target['id']}']")
    expect(column.locator(f"#deal-{deal['id']}")).to_be_visible()
    assert stage_of(server, deal["id"]) == target["id"]


def test_sales_pages_for_the_guide(page: Any, server: dict[str, Any]) -> None:
    from playwright.sync_api import expect

    page.goto("/")
    expect(page.get_by_role("heading", name="Pipeline by stage")).to_be_visible()
    shot(page, "sales-dashboard")
    page.goto(f"/deals/{server['deals'][2]['id']}")
    expect(page.get_by_role("heading", name="Support plan", level=1)).to_be_visible()
    shot(page, "sales-deal")
