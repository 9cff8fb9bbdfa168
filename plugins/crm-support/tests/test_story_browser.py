"""A support agent's day told in the browser only (Debian's Chromium, Playwright, `crm serve`),
at a desk's width and a phone's: a customer's portal request, the SLA clock in the queue and on
the ticket, a reply from a canned response that solves it, the satisfaction survey answered; and
a knowledge-base editor publishing an article that the help centre then finds."""

from __future__ import annotations

import re
from collections.abc import Iterator
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest

from crmcore.testing.browser import (
    WIDTHS,
    api,
    free_port,
    instance_env,
    run_crm,
    serving,
)

PASSWORD = "Browser-test-password-1"
PORTAL_PASSWORD = "Portal-password-42!"
USERS = {"admin": "boss@example.com", "support_agent": "agent@example.com"}
USERS["manager"] = "editor@example.com"
CANNED = "Thanks for writing. Restarting the router fixes this; it is solved on our side."


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, instance_database: str | None
) -> Iterator[dict[str, Any]]:
    """Support and kb enabled; an admin, an agent and an editor; an SLA policy for normal
    tickets, a default queue and a canned response."""
    port = free_port()
    folder = tmp_path_factory.mktemp("support-story")
    env = instance_env(folder, port, instance_database)
    run_crm(env, "init")
    run_crm(env, "plugins", "enable", "support")
    run_crm(env, "plugins", "enable", "kb")
    for role, email in USERS.items():
        run_crm(env, "users", "create", email, "--password", PASSWORD, "--role", role)
    with serving(env, port) as base:
        tokens = {
            role: api(base, "POST", "/api/v1/auth/token", {"email": e, "password": PASSWORD})[
                "token"
            ]
            for role, e in USERS.items()
        }
        admin = tokens["admin"]
        policy_ = {"name": "Normal", "priority": "normal"}
        policy_ |= {"first_response_minutes": 240, "resolution_minutes": 1440}
        api(base, "POST", "/api/v1/sla_policies", policy_, admin)
        api(base, "POST", "/api/v1/support_queues", {"name": "General", "is_default": True}, admin)
        api(base, "POST", "/api/v1/canned_responses", {"name": "Router", "body": CANNED}, admin)
        yield {"base": base, "tokens": tokens, "outbox": folder / "outbox"}


def mail_to(outbox: Path, address: str, pattern: str) -> str:
    """The first link matching ``pattern`` in the newest message to ``address``."""
    for path in sorted(outbox.glob("**/*.eml"), key=lambda p: p.stat().st_mtime_ns, reverse=True):
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        if address in str(message["To"]):
            found = re.search(pattern, message.get_body(("plain",)).get_content())
            if found:
                return found.group(1)
    raise AssertionError(f"no mail to {address} with {pattern}")


class Pages:
    """Browser contexts at one width that fail the test on script errors."""

    def __init__(self, browser: Any, base: str, width: int) -> None:
        self.browser, self.base, self.width = browser, base, width
        self.contexts: list[Any] = []
        self.problems: list[str] = []

    def new(self) -> Any:
        context = self.browser.new_context(
            base_url=self.base, viewport={"width": self.width, "height": 900}
        )
        self.contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.on("pageerror", lambda exc: self.problems.append(str(exc)))
        page.on("console", lambda m: self.problems.append(m.text) if m.type == "error" else None)
        return page

    def signed_in(self, email: str) -> Any:
        page = self.new()
        page.goto("/login")
        page.get_by_label("E-mail").fill(email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/")
        return page

    def close(self) -> None:
        for context in self.contexts:
            context.close()
        assert not [p for p in self.problems if not p.startswith("Failed to load")], self.problems


@pytest.fixture(params=WIDTHS)
def pages(
    request: pytest.FixtureRequest, crm_browser: Any, server: dict[str, Any]
) -> Iterator[Pages]:
    made = Pages(crm_browser, server["base"], request.param)
    yield made
    made.close()


def test_portal_request_to_answered_survey(pages: Pages, server: dict[str, Any]) -> None:
    from playwright.sync_api import expect

    base, tokens, width = server["base"], server["tokens"], pages.width
    email = f"customer{width}@example.com"
    contact = api(
        base,
        "POST",
        "/api/v1/contacts",
        {"first_name": "Carla", "last_name": f"Cliente {width}", "email": email},
        tokens["admin"],
    )
    agent = pages.signed_in(USERS["support_agent"])
    # the agent invites the customer from the contact's page
    agent.goto(f"/contacts/{contact['id']}")
    agent.locator("#action-portal_invite button").click()
    expect(agent.get_by_text(f"Portal invitation sent to {email}.")).to_be_visible()

    customer = pages.new()
    customer.goto(mail_to(server["outbox"], email, r"https?://[^/\s]+(/portal/activate/\S+)"))
    customer.get_by_label("Password", exact=True).fill(PORTAL_PASSWORD)
    customer.get_by_label("Repeat the password").fill(PORTAL_PASSWORD)
    customer.get_by_role("button", name="Save").click()
    customer.wait_for_url("**/portal/")
    customer.goto("/portal/new")
    subject = f"Internet down at {width}"
    customer.get_by_label("Subject").fill(subject)
    customer.get_by_label("How can we help?").fill("Nothing loads since this morning.")
    customer.get_by_role("button", name="Send").click()
    customer.wait_for_url(re.compile(r".*/portal/tickets/\d+$"))

    # the queue shows it with its SLA clock running
    agent.goto("/support/queue")
    row = agent.locator("[data-triage-row]", has_text=subject)
    expect(row.locator('[data-sla-state="running"]')).to_contain_text("left to first response")
    row.get_by_role("link").first.click()
    expect(agent.locator(".sla-line")).to_contain_text("left to first response")
    agent.wait_for_load_state("load")  # the canned-response script runs once the page loaded

    # a reply from the canned response, solving the ticket
    agent.get_by_label("Canned response").select_option(label="Router")
    expect(agent.get_by_label("Message", exact=True)).to_have_value(CANNED)
    agent.get_by_label("Then set the status to").select_option("solved")
    agent.get_by_role("button", name="Send", exact=True).click()
    expect(agent.get_by_text("Reply sent.")).to_be_visible()
    expect(agent.locator(".support-thread")).to_contain_text("Restarting the router")

    # the customer got the reply and the survey; they answer it
    survey = mail_to(server["outbox"], email, r"https?://[^/\s]+(/support/feedback/\S+)")
    customer.goto(survey)
    customer.get_by_label("5", exact=True).check()
    customer.get_by_label("Comment (optional)").fill("Quick and kind.")
    customer.get_by_role("button", name="Send").click()
    expect(customer.locator("main")).to_contain_text("Thank")


def test_editor_publishes_an_article_the_help_centre_finds(
    pages: Pages, server: dict[str, Any]
) -> None:
    from playwright.sync_api import expect

    editor = pages.signed_in(USERS["manager"])
    title = f"Restart your router ({pages.width})"
    editor.goto("/articles/new")
    expect(editor.get_by_text("anyone finds it in the help centre")).to_be_visible()
    form = editor.locator("form.record-form")  # not the quick-task form of the page
    form.get_by_label("Title").fill(title)
    form.get_by_label("Body", exact=True).fill("Unplug it for **ten seconds**, then plug it in.")
    form.get_by_label("Visibility").select_option("public")
    form.get_by_role("button", name="Save").click()
    editor.wait_for_url(re.compile(r".*/articles/\d+$"))
    editor.locator("#action-publish button").click()
    expect(editor.get_by_text("Article published.")).to_be_visible()

    visitor = pages.new()  # nobody signed in
    visitor.goto(f"/help/search?q=router+{pages.width}")
    visitor.get_by_role("link", name=title).click()
    expect(visitor.locator("strong", has_text="ten seconds")).to_be_visible()
