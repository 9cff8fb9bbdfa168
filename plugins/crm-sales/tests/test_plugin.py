"""The plugin as a whole: grants, menu, widgets, panels, demo data, disabling and enabling."""

from __future__ import annotations

import random

import pytest

from crmcore import DemoContext

pytestmark = pytest.mark.crm_plugins("sales")


def test_default_grants(crm, session):
    from sqlalchemy import select

    role_model = crm.registry.get("roles").model
    roles = {r.name: r for r in session.scalars(select(role_model))}
    rep = roles["sales_rep"].grants
    for plural in ("leads", "deals", "quotes", "orders"):
        assert rep[plural] == {"read": "own", "create": "own", "update": "own", "delete": "own"}
    assert rep["products"] == {"read": "all"}
    assert roles["manager"].grants["*"]["update"] == "all"
    assert roles["read_only"].grants["*"] == {"read": "all"}


def test_read_only_reads_but_never_writes(api_as, make_user, records):
    deal = records.create("deals", {"title": "Look"})
    client = api_as(make_user("read_only"))
    assert client.get(f"/api/v1/deals/{deal.id}").status_code == 200
    assert client.post("/api/v1/deals", json={"title": "No"}).status_code == 403
    assert client.post(f"/api/v1/quotes/{0}/order").status_code in (403, 404)


def test_menu_and_widgets_on_the_home_page(app, web_client, make_user, records, stages):
    rep, other = make_user("sales_rep"), make_user("sales_rep")
    records.create(
        "deals",
        {"title": "Rep deal", "amount": "100.00", "owner_id": rep.id, "stage_id": stages["Won"].id},
    )
    records.create(
        "deals",
        {
            "title": "Other deal",
            "amount": "900.00",
            "owner_id": other.id,
            "stage_id": stages["Lost"].id,
        },
    )
    html = web_client(rep).get("/").get_data(as_text=True)
    for text in (
        'href="/deals"',
        'href="/sales/board"',
        "Pipeline by stage",
        "Forecast by quarter",
        "Win rate",
        "Sales by owner",
    ):
        assert text in html, text
    assert "100 %" in html  # the rep's win rate: the other rep's lost deal is not theirs
    support = web_client(make_user("support_agent")).get("/").get_data(as_text=True)
    assert 'href="/deals"' not in support and "Win rate" not in support


def test_widget_data_is_scoped(crm, make_user, records, stages):
    from crm_sales.widgets import pipeline_by_stage, win_rate

    rep, other = make_user("sales_rep"), make_user("sales_rep")
    records.create("deals", {"title": "Mine", "amount": "10.00", "owner_id": rep.id})
    records.create("deals", {"title": "Theirs", "amount": "99.00", "owner_id": other.id})
    from crmcore.permissions import Access

    mine = pipeline_by_stage(rep, crm.records(Access.for_user(rep)))
    assert mine["stages"] == [
        {"pipeline": "Sales", "stage": "Prospecting", "deals": 1, "amount": "10.00 EUR"}
    ]
    assert win_rate(rep, crm.records(Access.for_user(rep))) == {
        "won": 0,
        "lost": 0,
        "win_rate": "-",
    }


def test_panels_on_contact_and_company_pages_escape(
    app, web_client, admin, make_contact, make_company, records
):
    company = make_company()
    contact = make_contact(company_id=company.id)
    records.create(
        "deals",
        {
            "title": "<img src=x onerror=alert(1)>",
            "contact_id": contact.id,
            "company_id": company.id,
            "amount": "5.00",
        },
    )
    records.create("quotes", {"title": "Q", "contact_id": contact.id, "lines": []})
    client = web_client(admin)
    html = client.get(f"/contacts/{contact.id}").get_data(as_text=True)
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<img src=x" not in html
    assert "Q-000001" in html
    company_html = client.get(f"/companies/{company.id}").get_data(as_text=True)
    assert "&lt;img src=x" in company_html and "<img src=x" not in company_html
    # the contact's quote (no company of its own) reaches the company page by the timeline's
    # roll-up only, not by the company's quotes panel
    assert company_html.count("Q-000001") == 1


def test_demo_data(crm, records, make_user):
    users = {"sales_rep": make_user("sales_rep"), "sales_rep_2": make_user("sales_rep")}
    for n in range(6):
        records.create("contacts", {"last_name": f"Demo {n}", "owner_id": users["sales_rep"].id})
    from crm_sales.demo import create_demo_data

    create_demo_data(DemoContext(records=records, random=random.Random(1), users=users))
    assert records.count("products") == 4
    assert records.count("leads") == 4
    assert records.count("deals") == 6
    assert records.count("quotes") == 2


def test_disabling_hides_everything_and_keeps_the_data(
    api, cli, records, app, web_client, admin, make_contact
):
    contact = make_contact()
    deal = records.create("deals", {"title": "Keep me", "contact_id": contact.id})
    q = records.create("quotes", {"lines": []})
    assert cli("plugins", "disable", "sales").exit_code == 0
    for url in (
        "/api/v1/deals",
        f"/api/v1/quotes/{q.id}/pdf",
        "/api/v1/forecast",
        f"/api/v1/contacts/{contact.id}/purchases",
    ):
        assert api.get(url).status_code == 404, url
    spec = api.get("/api/v1/openapi.json").get_json()
    assert not [p for p in spec["paths"] if "deals" in p or "forecast" in p]
    client = web_client(admin)
    assert client.get("/sales/board").status_code == 404
    assert client.get("/sales/web-to-lead").status_code == 404
    home = client.get("/").get_data(as_text=True)
    assert 'href="/deals"' not in home and "Win rate" not in home
    assert "Keep me" not in client.get(f"/contacts/{contact.id}").get_data(as_text=True)
    assert cli("plugins", "enable", "sales").exit_code == 0
    assert api.get(f"/api/v1/deals/{deal.id}").get_json()["title"] == "Keep me"
    assert api.get(f"/api/v1/quotes/{q.id}/pdf").data.startswith(b"%PDF")
