"""A user's story in the browser, at 1280 and 375 px: an admin builds a rule fired by an incoming
webhook that calls a webhook, copies the URL shown once, a form's back end posts to it, the
receiver gets the signed call; the URL is rotated and the old one stops working. No page
scrolls sideways."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from crmcore.testing.browser import (
    WIDTHS,
    assert_no_sideways_scroll,
    served_instance,
    signed_in_page,
)

from crm_automation.webhooks import signing

PASSWORD = "Browser-test-password-1"


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, instance_database: str | None
) -> Iterator[dict[str, Any]]:
    """An instance with automation enabled and 127.0.0.1 allowed for webhooks, served."""
    with served_instance(
        tmp_path_factory.mktemp("incoming-story"),
        instance_database,
        plugins=["automation"],
        users={"admin@example.com": "admin"},
        password=PASSWORD,
        settings={"webhook_allowed_hosts": ["127.0.0.1"]},
    ) as served:
        yield {"base": served.base, "token": served.tokens["admin@example.com"]}


@pytest.fixture(params=WIDTHS)
def page(crm_browser: Any, server: dict[str, Any], request: pytest.FixtureRequest) -> Iterator[Any]:
    with signed_in_page(
        crm_browser, server["base"], "admin@example.com", PASSWORD, request.param
    ) as page:
        yield page


def _post(url: str, payload: dict[str, Any], key: str) -> int:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), method="POST",
        headers={"Content-Type": "application/json", "Idempotency-Key": key})  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def test_a_form_posts_to_a_rule_that_calls_a_webhook(page: Any, receiver: Any) -> None:
    from playwright.sync_api import expect

    width = page.viewport_size["width"]
    page.goto("/automation/rules/new")
    assert_no_sideways_scroll(page)
    page.locator("#f-name").fill(f"Web form {width}")
    page.locator("#f-trigger").select_option("incoming_webhook")
    expect(page.locator("#f-match")).to_be_visible()
    page.locator("#f-match").select_option("email")
    page.locator("#f-create").check()
    page.locator("#f-a0-type").select_option("call_webhook")
    page.locator("#f-a0-url").fill("http://10.0.0.1/hook")
    assert_no_sideways_scroll(page)
    page.get_by_role("button", name="Save rule").click()
    expect(page.locator("#error-summary")).to_contain_text("http://10.0.0.1/hook is refused")
    page.locator("#f-a0-url").fill(receiver.url)
    page.locator("#f-a0-fields").fill("text = New lead {{ record.email }}")
    page.get_by_role("button", name="Save rule").click()
    url_box = page.locator("#hook-url-value")
    expect(url_box).to_be_visible()
    assert_no_sideways_scroll(page)
    hook_url = url_box.input_value()
    secret = (page.locator("#call-webhooks code.secret-value").text_content() or "").strip()
    assert secret.startswith("whsec_")
    rotate = page.locator("#hook-url form").get_attribute("action") or ""
    rule_page = rotate.removesuffix("/hook-url")
    assert rule_page.startswith("/automation/rules/")

    email = f"lead{width}@example.com"
    assert _post(hook_url, {"email": email, "first_name": "Web"}, f"form-{width}") == 202
    for _ in range(60):
        if any(email.encode() in r.body for r in receiver.requests):
            break
        page.wait_for_timeout(500)
    call = next(r for r in receiver.requests if email.encode() in r.body)
    assert json.loads(call.body)["fields"]["text"] == f"New lead {email}"
    assert signing.verify(secret, call.body, call.headers["X-CRM-Timestamp"],
                          call.headers["X-CRM-Signature"])  # fmt: skip

    # the receiver has the call; the worker records the answer just after it: reload until then
    for _ in range(20):
        page.goto(rule_page)
        if "Delivered" in (page.locator("#call-webhooks").text_content() or ""):
            break
        page.wait_for_timeout(500)
    expect(page.locator("#hook-url-value")).to_have_count(0)  # shown once
    expect(page.locator("#call-webhooks")).to_contain_text("Delivered")
    assert_no_sideways_scroll(page)
    page.locator("#hook-url").get_by_role("button", name="Make a new URL").click()
    new_url = page.locator("#hook-url-value").input_value()
    assert new_url != hook_url
    assert_no_sideways_scroll(page)
    assert _post(hook_url, {"email": email}, f"old-{width}") == 404
    assert _post(new_url, {"email": email}, f"new-{width}") == 202
