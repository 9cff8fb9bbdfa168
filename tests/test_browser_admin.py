"""Administration in a real browser: an admin enables an installed plugin and its menu appears.

Uses the same `crm serve` instance and Debian Chromium set-up as ``test_browser.py``. The plugin
is the first installed, non-built-in plugin that needs no other plugin and adds a menu item
(``plugins/`` and ``examples/`` are installed by ``scripts/bootstrap``, so CI always has one);
the test is skipped, saying so, on a machine where none is installed.
"""

from __future__ import annotations

from typing import Any

import pytest
from test_browser import page, server, shot, sign_in  # noqa: F401


def menu_plugin() -> tuple[str, str, str] | None:
    """``(plugin name, menu label, menu group)`` of an installed plugin that can be enabled on
    its own."""
    from crmcore.plugins import PluginSet

    plugins = PluginSet.build(discover_installed=True)
    for plugin in plugins:
        if plugin.meta.builtin or plugin.meta.requires:
            continue
        items = [m for _p, m in plugins.collect("crm_menu_items", enabled=[plugin.name])]
        if items:
            first = sorted(items, key=lambda m: (m.order, m.label))[0]
            return plugin.name, first.label, first.group or plugin.meta.title
    return None


def test_admin_enables_a_plugin_and_its_menu_appears(page: Any) -> None:  # noqa: F811
    from playwright.sync_api import expect

    found = menu_plugin()
    if found is None:
        pytest.skip("no installed plugin with a menu item (run scripts/bootstrap)")
    name, label, group = found
    nav = page.get_by_role("navigation", name="Main")

    sign_in(page, "admin@example.com")
    page.locator(".user-menu summary").click()
    page.get_by_role("link", name="Administration").click()
    page.get_by_role("link", name="Plugins").first.click()
    expect(page).to_have_url("/admin/plugins")
    expect(nav.get_by_role("link", name=label, include_hidden=True)).to_have_count(0)
    row = page.locator(f"#plugin-{name}")
    expect(row.locator(".plugin-state")).to_have_text("Disabled")
    shot(page, "admin-plugins")

    row.get_by_role("button", name=f"Enable {name}").click()
    expect(page.get_by_role("status")).to_contain_text(f"{name} is enabled.")
    expect(row.locator(".plugin-state")).to_have_text("Enabled")
    nav.locator("summary", has_text=group).click()  # the plugin's group of the menu
    expect(nav.get_by_role("link", name=label)).to_be_visible()

    # disabling asks first, then hides the menu again (the data stays)
    row.get_by_role("button", name=f"Disable {name}").click()
    expect(page.get_by_role("status")).to_contain_text(f"{name} is disabled")
    expect(nav.get_by_role("link", name=label, include_hidden=True)).to_have_count(0)


def test_non_admin_cannot_open_the_administration(page: Any) -> None:  # noqa: F811
    from playwright.sync_api import expect

    sign_in(page, "rep1@example.com")
    page.locator(".user-menu summary").click()
    expect(page.get_by_role("link", name="Administration")).to_have_count(0)
    response = page.goto("/admin/plugins")
    assert response is not None and response.status == 403
