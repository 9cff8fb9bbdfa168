"""The contact page's timeline filter in a real browser at 375 px: keyboard-driven, swapped in
place by htmx, no horizontal scroll."""

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
    watched_page,
)

PASSWORD = "Browser-test-password-1"


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, instance_database: str | None
) -> Iterator[tuple[str, int]]:
    """An instance with an admin and a contact whose timeline has a note and a call."""
    port = free_port()
    env = instance_env(tmp_path_factory.mktemp("timeline-instance"), port, instance_database)
    run_crm(env, "init")
    run_crm(env, "users", "create", "admin@example.com", "--password", PASSWORD, "--role", "admin")
    with serving(env, port, timeout=120) as base:
        token = api(
            base, "POST", "/api/v1/auth/token",
            {"email": "admin@example.com", "password": PASSWORD},
        )["token"]  # fmt: skip
        contact = api(
            base, "POST", "/api/v1/contacts", {"first_name": "Tina", "last_name": "Timeline"}, token
        )
        link = {"record_type": "contact", "record_id": contact["id"]}
        api(base, "POST", "/api/v1/notes", {**link, "body": "A note about the renewal"}, token)
        api(
            base, "POST", "/api/v1/activities",
            {**link, "kind": "call", "subject": "Called about pricing",
             "occurred_at": "2026-01-05T10:00:00Z"},
            token,
        )  # fmt: skip
        yield base, contact["id"]


@pytest.fixture
def page(crm_browser: Any, server: tuple[str, int]) -> Iterator[Any]:
    with watched_page(crm_browser, server[0], 375) as page:
        yield page


def test_timeline_filter_by_keyboard_at_375_px(page: Any, server: tuple[str, int]) -> None:
    from playwright.sync_api import expect

    page.goto("/login")
    page.get_by_label("E-mail").fill("admin@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/")
    page.goto(f"/contacts/{server[1]}")
    timeline = page.locator("#timeline-list")
    expect(timeline).to_contain_text("A note about the renewal")
    expect(timeline).to_contain_text("Called about pricing")

    calls = page.get_by_role("checkbox", name="Calls")
    calls.focus()
    page.keyboard.press("Space")  # htmx asks for the list of calls only and swaps it in
    expect(calls).to_be_checked()
    expect(page.locator("#timeline-list")).not_to_contain_text("A note about the renewal")
    expect(page.locator("#timeline-list")).to_contain_text("Called about pricing")
    assert page.url.endswith(f"/contacts/{server[1]}")  # no reload: swapped in place
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"the page scrolls sideways: {width} px"

    page.keyboard.press("Space")  # unchecked again: everything
    expect(page.locator("#timeline-list")).to_contain_text("A note about the renewal")
