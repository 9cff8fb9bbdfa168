"""Reference pickers in a real browser: chosen with the keyboard, scoped to what the user may
read, at desktop and phone widths; the detail page then links the chosen record's title."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from crmcore.testing.browser import (
    WIDTHS,
    api,
    free_port,
    instance_env,
    run_crm,
    serving,
    sign_in,
    watched_page,
)

PASSWORD = "Browser-test-password-1"
CSP_WATCH = (
    "window.__csp = [];"
    "document.addEventListener('securitypolicyviolation',"
    " function (e) { window.__csp.push(e.violatedDirective + ' ' + e.blockedURI); });"
)


def _token(base: str, email: str) -> str:
    token: str = api(base, "POST", "/api/v1/auth/token", {"email": email, "password": PASSWORD})[
        "token"
    ]
    return token


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, instance_database: str | None
) -> Iterator[str]:
    """An instance with support enabled: a rep with a company, another rep's company, an agent
    and a queue."""
    port = free_port()
    env = instance_env(tmp_path_factory.mktemp("references-instance"), port, instance_database)
    run_crm(env, "init")
    run_crm(env, "plugins", "enable", "support")
    for email, role, name in (
        ("admin@example.com", "admin", "Alex Admin"),
        ("rep1@example.com", "sales_rep", "Rita One"),
        ("rep2@example.com", "sales_rep", "Rob Two"),
        ("agent@example.com", "support_agent", "Ana Agent"),
    ):
        run_crm(
            env, "users", "create", email, "--password", PASSWORD, "--role", role, "--name", name
        )
    with serving(env, port, timeout=120) as base:
        api(
            base,
            "POST",
            "/api/v1/companies",
            {"name": "Acme Rita"},
            _token(base, "rep1@example.com"),
        )
        api(
            base,
            "POST",
            "/api/v1/companies",
            {"name": "Acme Other"},
            _token(base, "rep2@example.com"),
        )
        admin = _token(base, "admin@example.com")
        api(base, "POST", "/api/v1/support_queues", {"name": "Billing desk"}, admin)
        yield base


@pytest.fixture(params=WIDTHS)
def page(crm_browser: Any, server: str, request: pytest.FixtureRequest) -> Iterator[Any]:
    with watched_page(crm_browser, server, request.param) as page:
        page.add_init_script(CSP_WATCH)
        yield page
        assert page.evaluate("window.__csp") == []


def test_rep_picks_a_company_with_the_keyboard(page: Any) -> None:
    from playwright.sync_api import expect

    sign_in(page, "rep1@example.com")
    page.goto("/contacts/new")
    main = page.locator("main")
    main.get_by_label("First name").fill("Kira")
    combo = main.get_by_role("combobox", name="Company")
    listbox = main.get_by_role("listbox", name="Company")
    combo.focus()
    combo.press_sequentially("acme")
    expect(listbox).to_be_visible()
    expect(combo).to_have_attribute("aria-expanded", "true")
    # only the company the rep may read is offered
    expect(listbox.get_by_role("option")).to_have_count(1)
    expect(listbox.get_by_role("option", name="Acme Rita")).to_be_visible()
    combo.press("Escape")
    expect(listbox).to_be_hidden()
    expect(combo).to_have_attribute("aria-expanded", "false")
    combo.press("ArrowDown")
    expect(listbox.get_by_role("option", name="Acme Rita")).to_have_attribute(
        "aria-selected", "true"
    )
    combo.press("Enter")  # picks, does not submit the form
    expect(listbox).to_be_hidden()
    expect(combo).to_have_value("Acme Rita")
    expect(page).to_have_url("/contacts/new")
    main.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", name="Kira", level=1)).to_be_visible()
    link = page.locator("dl.fields").get_by_role("link", name="Acme Rita")
    expect(link).to_have_attribute("href", re.compile(r"^/companies/\d+$"))
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]


def test_agent_picks_a_queue_for_a_ticket(page: Any) -> None:
    from playwright.sync_api import expect

    sign_in(page, "agent@example.com")
    page.goto("/tickets/new")
    main = page.locator("main")
    main.get_by_label("Subject").fill("Invoice missing")
    main.get_by_label("Status").select_option("new")  # until forms start valid (another task)
    main.get_by_label("Priority").select_option("normal")
    main.get_by_label("Channel").select_option("email")
    combo = main.get_by_role("combobox", name="Queue")
    combo.focus()
    combo.press_sequentially("bill")
    option = main.get_by_role("option", name="Billing desk")
    expect(option).to_have_attribute("aria-selected", "true")
    combo.press("Enter")
    expect(combo).to_have_value("Billing desk")
    main.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", name="Invoice missing", level=1)).to_be_visible()
    link = page.locator("dl.fields").get_by_role("link", name="Billing desk")
    expect(link).to_have_attribute("href", re.compile(r"^/support_queues/\d+$"))
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]


def test_without_javascript_the_picker_is_a_select(crm_browser: Any, server: str) -> None:
    from playwright.sync_api import expect

    with watched_page(crm_browser, server, java_script_enabled=False) as page:
        sign_in(page, "rep1@example.com", PASSWORD)
        page.goto("/contacts/new")
        select = page.locator("main select#f-company_id")
        expect(select).to_be_visible()
        expect(page.locator("main").get_by_role("combobox", name="Company")).to_have_count(1)
        options = select.locator("option")
        expect(options).to_have_text(["—", "Acme Rita"])


MERGE_WORDS = {
    "en": ("Merge a duplicate", "Duplicate to merge into this record", "The records were merged."),
    "es": (
        "Fusionar un duplicado",
        "Duplicado que se fusiona en este registro",
        "Los registros se han fusionado.",
    ),
}


@pytest.mark.parametrize(
    ("language", "width"),
    [("en", 1280), ("en", 375), ("es", 375)],
    ids=["en-1280", "en-375", "es-375"],
)
def test_rep_merges_a_duplicate_found_with_the_dialog_s_picker(
    crm_browser: Any, server: str, language: str, width: int
) -> None:
    """The merge dialog's reference input is the picker of record forms: the duplicate is
    found by typing, whichever records the picker starts with."""
    from playwright.sync_api import expect

    button, field, merged = MERGE_WORDS[language]
    tag = f"{language}{width}"
    # the language chosen on the page stays the user's: the Spanish story is the other rep's
    email = "rep2@example.com" if language == "es" else "rep1@example.com"
    token = _token(server, email)
    keep = api(
        server, "POST", "/api/v1/contacts", {"first_name": "Nora", "last_name": f"Keep{tag}"}, token
    )
    api(
        server,
        "POST",
        "/api/v1/contacts",
        {"first_name": "Nora", "last_name": f"Twin{tag}"},
        token,
    )
    for i in range(55):  # more than the picker starts with: the twin is not among them
        api(server, "POST", "/api/v1/contacts", {"last_name": f"Filler {tag} {i}"}, token)
    with watched_page(crm_browser, server, width) as page:
        page.add_init_script(CSP_WATCH)
        sign_in(page, email)
        if language != "en":
            page.locator("#language-select").select_option(language)  # submits itself
            page.wait_for_function(f"document.documentElement.lang === {language!r}")
        page.goto(f"/contacts/{keep['id']}")
        main = page.locator("main")
        main.get_by_role("link", name=button).click()
        dialog = page.get_by_role("dialog")
        combo = dialog.get_by_role("combobox", name=field)
        expect(combo).to_be_visible()
        combo.press_sequentially(f"twin{tag}".lower())
        option = dialog.get_by_role("option", name=f"Nora Twin{tag}")
        expect(option).to_have_attribute("aria-selected", "true")
        combo.press("Enter")
        expect(combo).to_have_value(f"Nora Twin{tag}")
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        dialog.get_by_role("button", name=button).click()
        expect(page.get_by_text(merged)).to_be_visible()
        expect(page).to_have_url(f"/contacts/{keep['id']}")
        page.goto("/contacts/trash")  # where the merged twin went
        expect(page.locator("main").get_by_text(f"Twin{tag}")).to_be_visible()
        assert page.evaluate("window.__csp") == []
