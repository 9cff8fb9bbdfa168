"""The web UI in a real browser: Debian's Chromium driven by Playwright against `crm serve`.

A fresh instance is created with `crm init` in a temporary folder and served on a free loopback
port. Set ``CRM_SCREENSHOTS=1`` to (re)write the screenshots under ``docs/screenshots/``.
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
    sign_in,
    watched_page,
)

PASSWORD = "Browser-test-password-1"
SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"


def api_call(base: str, path: str, body: dict[str, Any], token: str | None = None) -> Any:
    return api(base, "POST", path, body, token)


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, instance_database: str | None
) -> Iterator[str]:
    """A real instance served by `crm serve`, with an admin and two sales reps."""
    port = free_port()
    env = instance_env(tmp_path_factory.mktemp("browser-instance"), port, instance_database)
    run_crm(env, "init")
    for email, role, name in (
        ("admin@example.com", "admin", "Alex Admin"),
        ("rep1@example.com", "sales_rep", "Rita One"),
        ("rep2@example.com", "sales_rep", "Rob Two"),
    ):
        run_crm(
            env, "users", "create", email, "--password", PASSWORD, "--role", role, "--name", name
        )
    with serving(env, port) as base:
        token = api_call(
            base, "/api/v1/auth/token", {"email": "rep2@example.com", "password": PASSWORD}
        )["token"]
        api_call(
            base,
            "/api/v1/contacts",
            {"first_name": "Olga", "last_name": "Othersrep", "email": "olga@example.com"},
            token,
        )
        yield base


@pytest.fixture
def page(crm_browser: Any, server: str) -> Iterator[Any]:
    """A fresh browser context; fails the test on script errors and CSP violations."""
    with watched_page(crm_browser, server) as page:
        yield page


def shot(page: Any, name: str) -> None:
    if os.environ.get("CRM_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_sign_in_create_edit_and_search_a_contact(page: Any) -> None:
    from playwright.sync_api import expect

    page.goto("/contacts")
    expect(page).to_have_url("/login?next=/contacts")
    shot(page, "login")
    page.get_by_label("E-mail").fill("admin@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Contacts", level=1)).to_be_visible()

    page.get_by_role("link", name="New contact").click()
    main = page.locator("main")  # the header's quick-create form has the same labels
    main.get_by_label("First name").fill("Marisol")
    main.get_by_label("Last name").fill("Quintanilla")
    main.get_by_label("Email", exact=True).fill("marisol-at-example")
    main.get_by_role("button", name="Save").click()
    email = main.get_by_label("Email", exact=True)
    expect(email).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#f-email-error")).to_have_text("Not a valid e-mail address.")
    expect(main.get_by_label("First name")).to_have_value("Marisol")
    shot(page, "contact-form-error")

    email.fill("marisol@example.com")
    main.locator("#f-city").fill("Valencia")
    main.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", name="Marisol Quintanilla", level=1)).to_be_visible()
    expect(page.get_by_text("marisol@example.com")).to_be_visible()

    page.get_by_role("link", name="Edit").click()
    main.locator("#f-city").fill("Alicante")
    main.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Changes saved.")).to_be_visible()
    expect(page.locator("dl.fields")).to_contain_text("Alicante")

    page.get_by_label("Add a note").fill("Met at the trade fair")
    page.get_by_role("button", name="Add note").click()  # htmx swaps the timeline in place
    expect(page.locator("#timeline")).to_contain_text("Met at the trade fair")
    shot(page, "contact-detail")

    search = page.get_by_role("searchbox", name="Search everything")
    search.fill("quintan")
    hit = page.locator("#search-popup").get_by_role("link", name="Marisol Quintanilla")
    expect(hit).to_be_visible()  # instant results, without leaving the page
    shot(page, "instant-search")
    hit.click()
    expect(page.get_by_role("heading", name="Marisol Quintanilla", level=1)).to_be_visible()

    page.goto("/contacts")
    expect(page.get_by_role("link", name="Marisol")).to_be_visible()
    expect(page.get_by_role("link", name="Olga")).to_be_visible()  # admins see every contact
    shot(page, "contacts-list")
    page.goto("/search?q=marisol")
    expect(page.get_by_role("link", name="Marisol Quintanilla")).to_be_visible()
    shot(page, "search")
    page.goto("/")
    shot(page, "home")


def test_sales_rep_does_not_see_another_reps_contact(page: Any) -> None:
    from playwright.sync_api import expect

    sign_in(page, "rep1@example.com")
    page.goto("/contacts")
    expect(page.get_by_text("No contacts yet.")).to_be_visible()
    expect(page.get_by_text("Olga")).to_have_count(0)
    page.get_by_role("searchbox", name="Search everything").fill("othersrep")
    expect(page.locator("#search-popup")).to_contain_text("Nothing found")
    page.goto("/search?q=olga")
    expect(page.get_by_text("Nothing found")).to_be_visible()
    response = page.goto("/contacts/1")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()


def test_spanish_on_a_phone(crm_browser: Any, server: str) -> None:
    from playwright.sync_api import expect

    with watched_page(crm_browser, server, 390, 844, is_mobile=True, has_touch=True) as page:
        sign_in(page, "admin@example.com")
        page.get_by_label("Language").select_option("es")  # submits itself (crm.js)
        menu = page.get_by_role("button", name="Menú")  # on a phone the menu is one button
        expect(menu).to_have_attribute("aria-expanded", "false")
        menu.click()
        expect(page.get_by_role("link", name="Contactos")).to_be_visible()
        page.goto("/contacts")
        expect(page.get_by_role("heading", name="Contactos", level=1)).to_be_visible()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page scrolls sideways on a phone ({width}px)"
        shot(page, "contacts-phone-es")
        page.locator("#language-select").select_option("en")  # "Idioma" is a column too
        page.get_by_role("button", name="Menu").click()
        expect(page.get_by_role("link", name="Contacts")).to_be_visible()
