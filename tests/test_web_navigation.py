"""The main menu (grouped by module, every readable entity reachable, permission-scoped), the
favicon, and pages that once listed the same thing twice."""

from __future__ import annotations

import re

import pytest
from test_web import page

from crmcore.menu import menu_groups
from crmcore.permissions import Access

ALL = pytest.mark.crm_plugins("sales", "marketing", "support", "kb", "automation", "insights")


def nav_links(html: str) -> list[str]:
    nav = html.split('<nav id="main-nav"', 1)[1].split("</nav>", 1)[0]
    return re.findall(r'<a href="([^"]+)"', nav)


def nav_groups(html: str) -> list[str]:
    nav = html.split('<nav id="main-nav"', 1)[1].split("</nav>", 1)[0]
    return [g.strip() for g in re.findall(r"<summary[^>]*>([^<]+)<svg", nav)]


@ALL
def test_menu_is_grouped_by_module_and_reaches_every_entity(web):
    html = page(web, "/")
    links = nav_links(html)
    assert len(links) == len(set(links)), links  # nothing twice
    assert links[:4] == ["/", "/contacts", "/companies", "/tasks"]  # the core on top
    groups = nav_groups(html)
    assert groups[:3] == ["Sales", "Support", "Marketing"]
    assert set(groups[3:]) == {"Knowledge base", "Automation", "Insights"}
    for url in ("/price_lists", "/shipments", "/sla_policies", "/support_queues", "/stages"):
        assert url in links, url
    # the administration's entities and records hanging on other records are not in the menu
    for url in ("/users", "/roles", "/notes", "/attachments"):
        assert url not in links
    # the bell is a drawing, not an emoji a font may lack
    assert "🔔" not in html and 'class="icon"' in html
    assert 'aria-controls="main-nav"' in html and "<script>" not in html  # no inline script


@ALL
def test_menu_shows_only_what_the_role_may_read(web_as, make_user):
    marketer = make_user("marketer")
    links = nav_links(page(web_as(marketer), "/"))
    assert "/campaigns" in links and "/deals" in links
    for hidden in ("/tickets", "/support/queue", "/sla_policies", "/price_lists", "/quotes"):
        assert hidden not in links, hidden


@ALL
def test_menu_entries_come_with_their_group_in_the_api(crm, api):
    entries = api.get("/api/v1/menu").json
    by_url = {e["url"]: e for e in entries}
    assert by_url["/contacts"]["group"] is None
    assert by_url["/deals"]["group"] == "Sales"
    assert by_url["/price_lists"] == {
        "label": "Price lists",
        "url": "/price_lists",
        "icon": None,
        "plugin": "sales",
        "group": "Sales",
    }
    groups = menu_groups(crm, Access.system())
    assert groups[0].label is None and groups[0].entries[0].url == "/contacts"


@ALL
def test_menu_in_spanish(web, admin, session):
    admin.locale = "es"
    session.commit()
    html = page(web, "/")
    assert "Ventas" in nav_groups(html) and ">Menú<" in html


def test_favicon_is_public(app, client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response.data[:4] == b"\x00\x00\x01\x00"  # an ICO file
    assert client.get("/static/web/favicon.svg").status_code == 200


def test_plugin_dependents_are_listed_once(crm, web):
    names = crm.plugins.dependents("users")
    assert len(names) == len(set(names)) and "activities" in names
    html = page(web, "/admin/plugins")
    needed = re.search(r'id="plugin-users".*?Needed by: ([^<]*)<', html, re.S)
    assert needed, html
    listed = [n.strip() for n in needed.group(1).split(",")]
    assert len(listed) == len(set(listed)) and "activities" in listed


@pytest.mark.crm_plugins("sales", "support")
def test_contact_page_lists_deals_quotes_orders_and_tickets_once(web, make_contact, records):
    contact = make_contact()
    records.create("deals", {"title": "Only once", "contact_id": contact.id})
    html = page(web, f"/contacts/{contact.id}")
    # once in the deals panel, once on the contact's timeline: no second list of deals
    assert html.count("Only once") == 2
    for title in ("Deals", "Quotes", "Orders", "Support tickets"):
        assert html.count(f">{title}</h2>") == 1, title
    assert 'id="related-deals-contact_id"' not in html
    assert 'id="related-tickets-contact_id"' not in html
    # the panel carries the list's "Add" link, prefilled with the contact
    assert f'href="/deals/new?contact_id={contact.id}"' in html
    # companies keep their own lists of what a panel does not replace
    assert 'id="related-contacts-company_id"' not in html  # (a contact has no such list)
