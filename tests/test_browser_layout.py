"""Every page at phone and desktop width, and an accessibility check of the main pages.

One instance with every first-party plugin enabled and the demo data, one Chromium, one page
object reused for all the loads (a few hundred of them):

* no page is wider than the window at 375 px or 1280 px (wide boards and tables scroll inside
  their own box) and the header stays within 120 px on a phone; at 1280 px the deal board and
  the dashboard's tables fit without scrolling;
* the menu collapses into one button on a phone, which opens it;
* axe-core (vendored in ``tests/vendor``) finds no serious or critical violation on the home
  page, the contact list, a contact, the contact form, the deal board and the ticket queue.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from crmcore.testing.browser import CRM, chromium, free_port, instance_env, run_crm, serving

# layout, translations, docs and the scaffold do not depend on the database engine: run once
pytestmark = pytest.mark.crm_sqlite_only

PLUGINS = ("sales", "marketing", "support", "kb", "automation", "insights")
WIDTHS = (375, 1280)
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
#: Pages that are not an entity's list, record or form.
EXTRA_PAGES = (
    "/",
    "/search?q=a",
    "/contacts/duplicates",
    "/companies/duplicates",
    "/sales/board",
    "/support/queue",
    "/notifications",
    "/admin",
    "/admin/users",
    "/admin/roles",
    "/admin/teams",
    "/admin/plugins",
    "/admin/fields",
    "/admin/settings",
    "/audit",
    "/contacts/trash",
    "/import",
    "/help/",
)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, instance_database: str | None) -> Iterator[Any]:
    """A demo instance with every first-party plugin, served; yields (base, password, pages)."""
    folder = tmp_path_factory.mktemp("layout-instance")
    port = free_port()
    env = instance_env(folder, port, instance_database)
    run_crm(env, "init")
    for name in PLUGINS:
        run_crm(env, "plugins", "enable", name)
    out = subprocess.run(
        [CRM, "demo"], env=env, check=True, capture_output=True, text=True, timeout=300
    ).stdout
    password = re.search(r"admin@example\.com / (\S+)", out)
    assert password, out
    pages = entity_pages(folder, instance_database)
    with serving(env, port) as base:
        yield base, password.group(1), pages


def entity_pages(folder: Path, database_url: str | None) -> list[str]:
    """List, new, record and edit pages of every enabled entity with pages (one record each)."""
    from sqlalchemy import select

    from crmcore.app import create_app
    from crmcore.menu import ADMIN_PLUGINS

    config = {"database_url": database_url} if database_url else {}
    app = create_app(folder, config=config)
    urls: list[str] = []
    with app.app_context():
        crm = app.extensions["crm"]
        try:
            for entity in crm.entities():
                base = f"/{entity.plural}"
                urls += [base, f"{base}/new"] if entity.api_create else [base]
                first = crm.session.scalar(
                    select(entity.model.id).order_by(entity.model.id).limit(1)
                )
                if first is not None:
                    urls.append(f"{base}/{first}")
                    if entity.plugin not in ADMIN_PLUGINS or entity.plural == "custom_fields":
                        urls.append(f"{base}/{first}/edit")
        finally:
            crm.session.close()
            crm.engine.dispose()
    return urls


@pytest.fixture(scope="module")
def signed_in(demo: Any) -> Iterator[Any]:
    """One browser page, signed in as the demo administrator, reused by every test here."""
    base, password, _pages = demo
    with chromium() as browser:
        context = browser.new_context(base_url=base, viewport={"width": 1280, "height": 800})
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.goto("/login")
        page.get_by_label("E-mail").fill("admin@example.com")
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/")
        yield page
        context.close()


WIDTH_PROBE = """() => {
  const wide = [];
  for (const el of document.querySelectorAll('body *')) {
    const box = el.getBoundingClientRect();
    const folded = el.closest('details:not([open])') && !el.closest('summary');
    if (!folded && box.right > window.innerWidth + 1 && box.width > 0) {
      wide.push(el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
        + (typeof el.className === 'string' && el.className ? '.' + el.className : ''));
    }
  }
  const clipped = [];  // boxes that scroll although a desktop window has room
  for (const box of document.querySelectorAll('.sales-board, .widget > .table-wrap')) {
    if (box.scrollWidth > box.clientWidth + 1) { clipped.push(box.className); }
  }
  const header = document.querySelector('.site-header');
  return {scroll: document.documentElement.scrollWidth, inner: window.innerWidth,
          header: header ? header.getBoundingClientRect().height : 0, wide: wide.slice(0, 5),
          clipped: clipped};
}"""


@pytest.mark.parametrize("width", WIDTHS)
def test_no_page_is_wider_than_the_window(signed_in: Any, demo: Any, width: int) -> None:
    page = signed_in
    page.set_viewport_size({"width": width, "height": 800})
    pages = [*EXTRA_PAGES, *demo[2]]
    assert len(pages) > 60  # every plugin's entities are there
    problems = []
    for url in pages:
        response = page.goto(url)
        assert response is not None and response.status < 500, (url, response and response.status)
        found = page.evaluate(WIDTH_PROBE)
        if found["scroll"] > found["inner"]:
            problems.append(f"{url}: {found['scroll']} px wide at {width} ({found['wide']})")
        if width == 1280 and found["clipped"]:
            problems.append(f"{url}: cut off at 1280: {found['clipped']}")
        if width == 375 and found["header"] > 120:
            problems.append(f"{url}: header {found['header']:.0f} px high at 375")
    assert problems == []


def test_menu_collapses_into_one_button_on_a_phone(signed_in: Any) -> None:
    from playwright.sync_api import expect

    page = signed_in
    page.set_viewport_size({"width": 375, "height": 800})
    page.goto("/contacts")
    toggle = page.get_by_role("button", name="Menu")
    nav = page.get_by_role("navigation", name="Main")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(nav).to_be_hidden()
    toggle.focus()
    page.keyboard.press("Enter")  # keyboard, as a screen-reader user would
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(nav).to_be_visible()
    # the module groups open in place; the missing entities are reachable
    nav.locator("summary", has_text="Sales").click()
    expect(nav.get_by_role("link", name="Price lists")).to_be_visible()
    expect(nav.get_by_role("link", name="Shipments")).to_be_visible()
    nav.locator("summary", has_text="Support").click()
    expect(nav.get_by_role("link", name="SLA policies")).to_be_visible()
    expect(nav.get_by_role("link", name="Support queues")).to_be_visible()
    expect(nav.get_by_role("link", name="Price lists")).to_be_hidden()  # one group at a time
    page.keyboard.press("Escape")
    page.keyboard.press("Escape")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    # on a desktop there is no button: the menu is a row of groups
    page.set_viewport_size({"width": 1280, "height": 800})
    expect(toggle).to_be_hidden()
    expect(nav).to_be_visible()


MAIN_PAGES = ("/", "/contacts", "/contacts/1", "/contacts/new", "/sales/board", "/support/queue")


@pytest.mark.parametrize("width", WIDTHS)
def test_axe_finds_no_serious_violation_on_the_main_pages(signed_in: Any, width: int) -> None:
    page = signed_in
    page.set_viewport_size({"width": width, "height": 800})
    script = AXE.read_text(encoding="utf-8")
    found = []
    for url in MAIN_PAGES:
        page.goto(url)
        page.wait_for_load_state("networkidle")
        page.evaluate(script + ";0")  # in the page's own world, past its CSP
        violations = page.evaluate(
            """async () => (await axe.run(document, {resultTypes: ['violations']})).violations
                 .filter(v => v.impact === 'serious' || v.impact === 'critical')
                 .map(v => v.id + ': ' + v.nodes.slice(0, 3).map(n => n.target.join(' ')))"""
        )
        found += [f"{url} @{width}: {v}" for v in violations]
    assert found == []


def test_favicon_is_served(signed_in: Any, demo: Any) -> None:
    page = signed_in
    for url in ("/favicon.ico",):
        response = page.request.get(demo[0] + url)
        assert response.status == 200 and response.body()[:4] == b"\x00\x00\x01\x00"
    page.goto("/")
    icons = page.locator("link[rel=icon]")
    assert icons.count() == 2
    svg = page.request.get(demo[0] + icons.first.get_attribute("href"))
    assert svg.status == 200 and b"<svg" in svg.body()
