"""Keyboard triage of the ticket queue in a real browser: Debian's Chromium driven by
Playwright against `crm serve` (crmcore.testing.browser). triage.js: j/k move, Enter opens,
a assigns to me, s solves; keys typed into a form field are left alone."""

from __future__ import annotations

from collections.abc import Iterator
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
AGENT = "agent@example.com"
call = api


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, instance_database: str | None
) -> Iterator[dict[str, Any]]:
    """An instance with support enabled, served by `crm serve`; an agent and a queue."""
    port = free_port()
    env = instance_env(tmp_path_factory.mktemp("support-browser"), port, instance_database)
    run_crm(env, "init")
    run_crm(env, "plugins", "enable", "support")
    run_crm(
        env,
        "users",
        "create",
        AGENT,
        "--password",
        PASSWORD,
        "--role",
        "support_agent",
        "--name",
        "Alex Agent",
    )
    with serving(env, port) as base:
        token = call(base, "POST", "/api/v1/auth/token", {"email": AGENT, "password": PASSWORD})[
            "token"
        ]
        probe = call(base, "POST", "/api/v1/tickets", {"subject": "Probe"}, token)
        call(base, "PATCH", f"/api/v1/tickets/{probe['id']}", {"status": "closed"}, token)
        # API-made tickets default to their creator as assignee: that is the agent's id
        yield {"base": base, "token": token, "me": {"id": probe["assignee_id"]}}


@pytest.fixture
def tickets(server: dict[str, Any]) -> list[dict[str, Any]]:
    """Three new unassigned tickets; the queue lists them oldest first (no SLA due times)."""
    base, token = server["base"], server["token"]
    for old in call(base, "GET", "/api/v1/tickets?limit=100", token=token)["data"]:
        if old["status"] not in ("solved", "closed"):
            call(base, "PATCH", f"/api/v1/tickets/{old['id']}", {"status": "closed"}, token)
    made = []
    for subject in ("Printer on fire", "Password reset", "Invoice question"):
        new = call(base, "POST", "/api/v1/tickets", {"subject": subject}, token)
        made.append(
            call(base, "PATCH", f"/api/v1/tickets/{new['id']}", {"assignee_id": None}, token)
        )
    return made


@pytest.fixture
def page(crm_browser: Any, server: dict[str, Any]) -> Iterator[Any]:
    """A signed-in page; fails the test on script errors and CSP violations."""
    with signed_in_page(crm_browser, server["base"], AGENT, PASSWORD, 1400) as page:
        yield page


def ticket(server: dict[str, Any], ticket_id: int) -> dict[str, Any]:
    return call(server["base"], "GET", f"/api/v1/tickets/{ticket_id}", token=server["token"])  # type: ignore[no-any-return]


def test_keys_assign_and_solve(page: Any, server: dict[str, Any], tickets: list[Any]) -> None:
    from playwright.sync_api import expect

    first, second, third = tickets
    page.goto("/support/queue")
    rows = page.locator("[data-triage-row]")
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_contain_text(first["number"])

    page.keyboard.press("j")  # select the first row
    expect(rows.nth(0)).to_have_class(lambda_class("selected"))
    expect(rows.nth(0)).to_be_focused()
    page.keyboard.press("a")  # assign it to me: the form posts, the queue comes back
    expect(page.get_by_text(f"{first['number']} is now yours.")).to_be_visible()
    assert ticket(server, first["id"])["assignee_id"] == server["me"]["id"]
    assert ticket(server, second["id"])["assignee_id"] is None

    page.wait_for_load_state("load")  # the reloaded queue's script listens for keys
    page.keyboard.press("j")
    expect(rows.nth(0)).to_have_class(lambda_class("selected"))
    page.keyboard.press("j")
    page.keyboard.press("j")  # the third row
    page.keyboard.press("k")  # back to the second
    expect(rows.nth(1)).to_have_class(lambda_class("selected"))
    expect(rows.nth(1)).to_have_attribute("aria-selected", "true")
    expect(rows.nth(2)).to_have_attribute("aria-selected", "false")  # one selected row
    page.keyboard.press("s")  # solve it
    expect(page.get_by_text(f"{second['number']} is solved.")).to_be_visible()
    assert ticket(server, second["id"])["status"] == "solved"
    assert ticket(server, third["id"])["status"] == "new"
    expect(page.locator("[data-triage-row]")).to_have_count(2)  # solved leave the open view


def test_enter_opens_and_typing_in_a_field_triggers_nothing(
    page: Any, server: dict[str, Any], tickets: list[Any]
) -> None:
    from playwright.sync_api import expect

    page.goto("/support/queue")
    # a filter field (the queue filter is shown only when there are queues)
    page.get_by_label("Mine only").focus()
    page.keyboard.press("s")  # in a form field: not a triage key
    page.keyboard.press("a")
    assert [ticket(server, t["id"])["status"] for t in tickets] == ["new"] * 3
    assert all(ticket(server, t["id"])["assignee_id"] is None for t in tickets)

    page.locator("body").click(position={"x": 5, "y": 5})
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/tickets/{tickets[1]['id']}")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Password reset")


def lambda_class(name: str) -> Any:
    import re

    return re.compile(rf"(^|\s){name}(\s|$)")
