"""A marketer's day in a real browser (Debian's Chromium driven by Playwright against
`crm serve`), at desktop and phone widths: a segment built with the builder (its count checked
against the API), the campaign previewed and sent from its page (to the file outbox, by
`crm worker`), an open and a click of the message recorded, and then - with the marketing
plugin disabled - the contact unsubscribes with the link of that message.

The API seeds the contacts and the campaign (the campaign wizard is not built yet)."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from crmcore.testing.browser import (
    CRM,
    WIDTHS,
    api,
    free_port,
    instance_env,
    run_crm,
    serving,
    signed_in_page,
)

PASSWORD = "Browser-test-password-1"
call = api


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, instance_database: str | None
) -> Iterator[dict[str, Any]]:
    """An instance with marketing enabled, served by `crm serve`; an admin and a marketer."""
    port = free_port()
    instance = tmp_path_factory.mktemp("marketing-story")
    env = instance_env(instance, port, instance_database)
    env.pop("CRM_SMTP_URL", None)  # mail goes to the file outbox
    run_crm(env, "init")
    run_crm(env, "plugins", "enable", "marketing")
    for email, role in (("admin@example.com", "admin"), ("mia@example.com", "marketer")):
        run_crm(env, "users", "create", email, "--password", PASSWORD, "--role", role)
    with serving(env, port) as base:
        tokens = {
            role: call(base, "POST", "/api/v1/auth/token", {"email": email, "password": PASSWORD})[
                "token"
            ]
            for email, role in (("admin@example.com", "admin"), ("mia@example.com", "marketer"))
        }
        yield {"base": base, "env": env, "instance": instance, **tokens}


@pytest.fixture(params=WIDTHS)
def page(crm_browser: Any, server: dict[str, Any], request: pytest.FixtureRequest) -> Iterator[Any]:
    """A page signed in as the marketer; fails the test on script errors and CSP violations."""
    with signed_in_page(
        crm_browser, server["base"], "mia@example.com", PASSWORD, request.param
    ) as page:
        yield page


def messages_to(outbox: Path, addresses: set[str]) -> dict[str, Any]:
    found = {}
    for path in sorted(outbox.glob("*.eml")) if outbox.exists() else []:
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        to = message["To"].addresses[0].addr_spec
        if to in addresses:
            found[to] = message
    return found


def local(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def test_marketer_builds_sends_tracks_and_the_contact_unsubscribes_with_the_plugin_off(
    page: Any, server: dict[str, Any]
) -> None:
    from playwright.sync_api import expect

    base, admin, marketer = server["base"], server["admin"], server["marketer"]
    width = page.viewport_size["width"]
    tag = f"story{width}"
    people = {
        f"ana{width}@example.net": tag,
        f"luis{width}@example.net": tag,
        f"kim{width}@example.net": "other",
    }
    ids = {}
    for email, each in people.items():
        body = {"first_name": email.split("@")[0], "last_name": "Story", "email": email}
        ids[email] = call(base, "POST", "/api/v1/contacts", body | {"tags": [each]}, admin)["id"]

    # 1. the segment, built row by row; the live count appears as the value is typed
    page.goto("/marketing/segments/build")
    page.locator("#segment-name").fill(f"Story {width}")
    page.locator("#field-0").select_option("contact.tags")
    page.locator("#op-0").select_option("eq")
    page.locator("#value-0").fill(tag)
    page.locator("#value-0").dispatch_event("change")
    expect(page.get_by_test_id("builder-count")).to_have_text("2")
    expect(page.locator("#builder-preview")).to_contain_text(f"ana{width}@example.net")
    page.get_by_role("button", name="Save segment").click()
    page.wait_for_url(re.compile(r"/segments/\d+$"))
    segment_id = int(page.url.rsplit("/", 1)[1])
    counted = call(base, "GET", f"/api/v1/segments/{segment_id}/count", None, marketer)
    assert counted["member_count"] == 2

    # 2. the campaign (seeded) is previewed for a contact, then sent from its page
    campaign = call(
        base,
        "POST",
        "/api/v1/campaigns",
        {
            "name": f"Winter {width}",
            "kind": "email",
            "segment_id": segment_id,
            "subject": "Winter sale",
            "body_html": "<p>Hello {{ contact.first_name }}, "
            '<a href="https://shop.example.com/sale">see the sale</a>.</p>',
            "from_email": "news@shop.example.com",
        },
        marketer,
    )
    page.goto(f"/marketing/campaigns/{campaign['id']}/preview")
    expect(page.frame_locator("iframe").get_by_text("see the sale")).to_be_visible()
    page.goto(f"/campaigns/{campaign['id']}")
    page.get_by_role("button", name="Send now").click()
    page.wait_for_url(re.compile(rf"/marketing/campaigns/{campaign['id']}/results$"))

    # the worker sends it to the file outbox
    outbox = server["instance"] / "outbox"
    wanted = {e for e, t in people.items() if t == tag}
    worker = subprocess.Popen(
        [CRM, "worker"], env=server["env"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 60
        while len(messages_to(outbox, wanted)) < 2 and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        worker.terminate()
        worker.wait(timeout=20)
    sent = messages_to(outbox, wanted | {f"kim{width}@example.net"})
    assert set(sent) == wanted

    # 3. Ana's mail client loads the pixel and she follows the link
    message = sent[f"ana{width}@example.net"]
    html = message.get_body(("html",)).get_content()
    pixel = re.search(r'src="([^"]+/m/o/[^"]+\.gif)"', html).group(1)
    click = re.search(r'href="([^"]+/m/c/[^"]+)"', html).group(1)
    assert page.request.get(local(pixel)).headers["content-type"] == "image/gif"
    followed = page.request.get(local(click), max_redirects=0)
    assert followed.status == 302
    assert followed.headers["location"] == "https://shop.example.com/sale"
    results = call(base, "GET", f"/api/v1/campaigns/{campaign['id']}/results", None, marketer)
    assert results["counts"]["opened"] == 1 and results["counts"]["clicked"] == 1
    # the results page draws them over time (Chart.js from the vendored file)
    page.get_by_role("link", name="Refresh").click()
    expect(page.locator("canvas[data-chart]")).to_be_visible()
    expect(page.get_by_test_id("campaign-results")).to_contain_text("Clicked")

    # 4. the plugin is disabled; the unsubscribe link of the message still works
    unsubscribe = message["List-Unsubscribe"].strip("<>")
    run_crm(server["env"], "plugins", "disable", "marketing")
    try:
        assert page.request.get(local(pixel)).headers["content-type"] == "image/gif"
        visitor = page.context.browser.new_context(
            base_url=base, viewport=page.viewport_size, locale="en-GB"
        )
        public = visitor.new_page()
        public.goto(local(unsubscribe))
        public.get_by_role("button", name="Unsubscribe").click()
        expect(public.get_by_role("heading", name="You are unsubscribed")).to_be_visible()
        visitor.close()
        contact = call(
            base, "GET", f"/api/v1/contacts/{ids[f'ana{width}@example.net']}", None, admin
        )
        assert contact["email_opt_out"] is True
    finally:
        run_crm(server["env"], "plugins", "enable", "marketing")
