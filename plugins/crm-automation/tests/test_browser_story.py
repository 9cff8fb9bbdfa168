"""A sales rep builds a rule in a real browser (Debian's Chromium driven by Playwright against
`crm serve`), at desktop and phone widths: a trigger, a condition row and an action chosen from
the builder's lists; a contact created afterwards is tagged by the rule, and the run shows in the
rule's history. The page never scrolls sideways."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from crmcore.testing.browser import (
    api,
    served_instance,
    signed_in_page,
)

PASSWORD = "Browser-test-password-1"


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, instance_database: str | None
) -> Iterator[dict[str, Any]]:
    """An instance with automation enabled, served by `crm serve`; a sales rep."""
    with served_instance(
        tmp_path_factory.mktemp("automation-story"),
        instance_database,
        plugins=["automation"],
        users={"rita@example.com": "sales_rep"},
        password=PASSWORD,
    ) as served:
        yield {"base": served.base, "token": served.tokens["rita@example.com"]}


@pytest.mark.parametrize("width", [1280, 375], ids=["desktop", "phone"])
def test_a_rule_built_in_the_browser_tags_new_contacts(crm_browser, server, width):
    from playwright.sync_api import expect

    tag = f"story-{width}"
    with signed_in_page(crm_browser, server["base"], "rita@example.com", PASSWORD, width) as page:
        page.goto("/automation/rules")
        page.get_by_role("link", name="New rule").click()
        page.locator("#f-name").fill(f"Tag story contacts {width}")
        page.locator("#f-trigger").select_option("created")
        page.locator("#f-c0-field").select_option("last_name")
        page.locator("#f-c0-op").select_option("contains")
        page.locator("#f-c0-value").fill(f"Story{width}")
        page.locator("#f-a0-type").select_option("add_tags")
        # only the chosen action's settings (hidden by the page's script once the choice is made)
        expect(page.locator("#f-a0-title")).to_be_hidden()
        page.locator("#f-a0-tags").fill(tag)
        wide = page.evaluate("document.documentElement.scrollWidth > window.innerWidth + 1")
        assert not wide, "the builder scrolls sideways"
        page.get_by_role("button", name="Save rule").click()
        page.wait_for_url("**/automation/rules/*")
        expect(page.get_by_text("Rule saved.")).to_be_visible()

        contact = api(server["base"], "POST", "/api/v1/contacts",
                      {"last_name": f"Story{width}"}, server["token"])  # fmt: skip
        other = api(server["base"], "POST", "/api/v1/contacts",
                    {"last_name": "Elsewhere"}, server["token"])  # fmt: skip
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            tags = api(server["base"], "GET", f"/api/v1/contacts/{contact['id']}",
                       token=server["token"])["tags"]  # fmt: skip
            if tags:
                break
            time.sleep(0.5)
        assert tags == [tag]
        untouched = api(server["base"], "GET", f"/api/v1/contacts/{other['id']}",
                        token=server["token"])  # fmt: skip
        assert untouched["tags"] == []
        page.reload()
        expect(page.get_by_text("Add tags: done")).to_be_visible()
