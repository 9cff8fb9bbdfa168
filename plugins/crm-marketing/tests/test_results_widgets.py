"""Dashboard widgets: open and click rates of recent campaigns, revenue from campaigns."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import pytest
from crm_marketing.models import Recipient
from sqlalchemy import select

NASTY = "<script>alert('x')</script>"
T0 = dt.datetime(2026, 3, 2, 9, 15, tzinfo=dt.UTC)


def make_campaign(records: Any, name: str, started: dt.datetime | None = T0, **f: Any) -> Any:
    segment = records.create("segments", {"name": f"Segment {name}", "query": "tags=x"})
    campaign = records.create(
        "campaigns",
        {
            "name": name,
            "segment_id": segment.id,
            "subject": "S",
            "body_html": "<p>B</p>",
            "from_email": "news@example.com",
        }
        | f,
    )
    if started is not None:  # as the send engine leaves it
        records.update(
            "campaigns", campaign, {}, internal={"status": "sent", "started_at": started}
        )
    return campaign


def recipients(session: Any, campaign: Any, contacts: list[Any], opened: int, clicked: int):
    for n, contact in enumerate(contacts):
        session.add(
            Recipient(
                campaign_id=campaign.id,
                contact_id=contact.id,
                email=contact.email,
                status="sent",
                sent_at=T0,
                opened_at=T0 if n < opened else None,
                clicked_at=T0 if n < clicked else None,
            )
        )
    session.commit()


def widget(api: Any, name: str) -> dict[str, Any] | None:
    found = [w for w in api.get("/api/v1/dashboard").get_json() if w["name"] == name]
    return found[0]["data"] if found else None


@pytest.fixture
def campaigns(records: Any, session: Any, make_contact: Any) -> list[Any]:
    people = [make_contact() for _ in range(4)]
    first = make_campaign(records, "First", T0)
    second = make_campaign(records, NASTY, T0 + dt.timedelta(days=7))
    make_campaign(records, "Draft", None)  # never sent: not shown
    recipients(session, first, people, opened=2, clicked=1)
    recipients(session, second, people[:2], opened=2, clicked=0)
    return [first, second]


def test_rates_widget_data(api, campaigns):
    data = widget(api, "marketing-rates")
    assert data["chart"] == {
        "type": "bar",
        "labels": ["First", NASTY],  # oldest first
        "series": [
            {"label": "Open rate (%)", "data": [50.0, 100.0]},
            {"label": "Click rate (%)", "data": [25.0, 0.0]},
        ],
    }
    assert [row["campaign"] for row in data["campaigns"]] == [NASTY, "First"]
    assert data["campaigns"][1] == {"campaign": "First", "delivered": 4, "opened": 2, "clicked": 1}


def test_rates_widget_on_the_home_page(web_as, marketer, campaigns):
    html = web_as(marketer).get("/").get_data(as_text=True)
    assert "Campaign open and click rates" in html
    assert NASTY not in html
    canvas = re.findall(r"data-chart='([^']+)'", html)
    configs = [json.loads(c.replace("&#39;", "'")) for c in canvas]
    ours = [c for c in configs if "First" in c["data"]["labels"]]
    assert ours and ours[0]["data"]["datasets"][0]["data"] == [50.0, 100.0]
    assert "vendor/chart.umd.min.js" in html


def test_rates_widget_needs_the_permission(api_as, make_user, campaigns):
    assert widget(api_as(make_user("read_only")), "marketing-rates") is None
    assert widget(api_as(make_user("manager")), "marketing-rates") is not None


def test_rates_widget_in_the_campaign_scope(api_as, make_user, records, session, make_contact):
    records.create(
        "roles",
        {
            "name": "own_results",
            "title": "Own results",
            "grants": {"campaigns": {"read": "own"}},
            "permissions": ["marketing.results"],
        },
    )
    user = make_user("own_results")
    mine = make_campaign(records, "Mine", owner_id=user.id)
    make_campaign(records, "Theirs")
    recipients(session, mine, [make_contact()], opened=1, clicked=1)
    data = widget(api_as(user), "marketing-rates")
    assert data["chart"]["labels"] == ["Mine"]


def test_rates_widget_without_campaigns(api):
    assert widget(api, "marketing-rates") == {"campaigns": "No campaigns sent yet."}


def test_no_revenue_widget_without_sales(api, campaigns):
    assert widget(api, "marketing-revenue") is None


@pytest.mark.crm_plugins("marketing", "sales")
def test_revenue_widget(api, api_as, make_user, records, campaigns):
    stage = records.entity("stages").model
    won = records.session.scalar(select(stage).where(stage.is_won.is_(True)))
    lost = records.session.scalar(select(stage).where(stage.is_lost.is_(True)))
    first, second = campaigns
    rep = make_user("sales_rep")
    for amount, currency, campaign, st, owner in (
        ("100.00", "EUR", first, won, None),
        ("50.00", "USD", first, won, None),
        ("70.00", "EUR", second, won, rep.id),
        ("999.00", "EUR", second, lost, None),
        ("555.00", "EUR", None, won, None),
    ):
        custom = {"campaign_id": campaign.id} if campaign else {}
        records.create(
            "deals",
            {
                "title": "D",
                "amount": amount,
                "currency": currency,
                "stage_id": st.id,
                "custom_fields": custom,
                "owner_id": owner,
            },
        )
    data = widget(api, "marketing-revenue")
    assert data["chart"] == {
        "type": "bar",
        "labels": ["First", NASTY],
        "series": [
            {"label": "EUR", "data": [100.0, 70.0]},
            {"label": "USD", "data": [50.0, 0.0]},
        ],
    }
    assert data["campaigns"] == [
        {"campaign": "First", "deals": 2, "won_deals": 2, "revenue": "100.00 EUR, 50.00 USD"},
        {"campaign": NASTY, "deals": 2, "won_deals": 1, "revenue": "70.00 EUR"},
    ]
    # a marketer who may read only their own deals sees only those
    records.create(
        "roles",
        {
            "name": "own_deals_results",
            "title": "Own deals",
            "grants": {"campaigns": {"read": "all"}, "deals": {"read": "own"}},
            "permissions": ["marketing.results"],
        },
    )
    seller = make_user("own_deals_results")
    assert widget(api_as(seller), "marketing-revenue") == {
        "revenue": "No deals from campaigns yet."
    }
    deal = records.entity("deals").model
    seventy = records.session.scalars(select(deal).where(deal.amount == 70)).one()
    records.update("deals", seventy, {"owner_id": seller.id})
    data = widget(api_as(seller), "marketing-revenue")
    assert data["chart"]["labels"] == [NASTY] and data["chart"]["series"] == [
        {"label": "EUR", "data": [70.0]}
    ]
    # who may not read deals at all gets no revenue widget (the rates one still)
    records.create(
        "roles",
        {
            "name": "results_no_deals",
            "title": "Results, no deals",
            "grants": {"campaigns": {"read": "all"}},
            "permissions": ["marketing.results"],
        },
    )
    blind = api_as(make_user("results_no_deals"))
    assert widget(blind, "marketing-revenue") is None
    assert widget(blind, "marketing-rates") is not None
