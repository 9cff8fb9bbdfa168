"""A user's story in the browser, on a phone and a desktop: an admin creates a webhook to a
receiver, copies the secret shown once, sees a delivery in the log and replays it; no page
scrolls sideways."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from crmcore.testing.browser import (
    api,
    assert_no_sideways_scroll,
    served_instance,
    signed_in_page,
)

PASSWORD = "Browser-test-password-1"


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, instance_database: str | None
) -> Iterator[dict[str, Any]]:
    """An instance with automation enabled and 127.0.0.1 allowed for webhooks, served."""
    with served_instance(
        tmp_path_factory.mktemp("webhook-story"),
        instance_database,
        plugins=["automation"],
        users={"admin@example.com": "admin"},
        password=PASSWORD,
        settings={"webhook_allowed_hosts": ["127.0.0.1"]},
    ) as served:
        yield {"base": served.base, "token": served.tokens["admin@example.com"]}


@pytest.fixture(params=[1280, 375], ids=["desktop", "phone"])
def page(crm_browser: Any, server: dict[str, Any], request: pytest.FixtureRequest) -> Iterator[Any]:
    with signed_in_page(
        crm_browser, server["base"], "admin@example.com", PASSWORD, request.param
    ) as page:
        yield page


def test_admin_creates_a_webhook_copies_the_secret_and_replays_a_delivery(
    page: Any, server: dict[str, Any], receiver: Any
) -> None:
    from playwright.sync_api import expect

    width = page.viewport_size["width"]
    page.goto("/webhooks/new")
    assert_no_sideways_scroll(page)
    page.locator("#f-name").fill(f"Chat {width}")
    page.locator("#f-url").fill("http://10.0.0.1/hook")
    page.locator("form:has(#f-url) button[type=submit]").last.click()
    expect(page.locator("#f-url-error")).to_contain_text("http://10.0.0.1/hook is refused")
    page.locator("#f-url").fill(receiver.url)
    page.locator("form:has(#f-url) button[type=submit]").last.click()
    page.wait_for_url("**/webhooks/*")
    secret = page.locator(".automation-secret-value")
    expect(secret).to_contain_text("whsec_")
    assert_no_sideways_scroll(page)
    hook_url = page.url
    page.reload()
    expect(page.locator(".automation-secret-value")).to_have_count(0)

    api(server["base"], "POST", "/api/v1/contacts",
        {"first_name": "Ana", "last_name": f"Story {width}"}, server["token"])  # fmt: skip
    for _ in range(60):
        page.goto(hook_url)
        if page.locator(".automation-state-delivered").count():
            break
        page.wait_for_timeout(500)
    expect(page.locator(".automation-state-delivered").first).to_be_visible()
    assert_no_sideways_scroll(page)
    page.locator(".automation-delivery form button").first.click()
    page.wait_for_url(hook_url)
    for _ in range(60):
        if len(receiver.requests) >= 2:
            break
        page.wait_for_timeout(500)
    first, again = receiver.requests[:2]
    assert first.body == again.body
    assert first.headers["X-CRM-Delivery"] != again.headers["X-CRM-Delivery"]
