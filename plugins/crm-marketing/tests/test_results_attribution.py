"""Attribution with crm-sales: leads and deals of a campaign, the revenue of the won deals, in
the reader's scope; the campaign set from a lead's source and carried over on conversion."""

from __future__ import annotations

import re
from typing import Any

import pytest
from crm_marketing.results import campaign_results, source_campaign
from sqlalchemy import select

pytestmark = pytest.mark.crm_plugins("marketing", "sales")


def make_campaign(records: Any, name: str, **fields: Any) -> Any:
    segment = records.create("segments", {"name": f"Segment of {name}", "query": "tags=vip"})
    values = {
        "name": name,
        "kind": "email",
        "segment_id": segment.id,
        "subject": "News",
        "body_html": "<p>News</p>",
        "from_email": "news@example.com",
    }
    return records.create("campaigns", values | fields)


@pytest.fixture
def stages(records: Any) -> dict[str, Any]:
    """The stages of the default pipeline, by name: Won, Lost and an open one as "Open"."""
    stage = records.entity("stages").model
    rows = list(records.session.scalars(select(stage).order_by(stage.position)))
    won = next(s for s in rows if s.is_won)
    lost = next(s for s in rows if s.is_lost)
    first = next(s for s in rows if not s.is_won and not s.is_lost)
    return {"Won": won, "Lost": lost, "Open": first}


def deal(records: Any, stage: Any, amount: str, campaign: Any, currency: str = "EUR", **f: Any):
    custom = {"campaign_id": campaign.id} if campaign is not None else {}
    values = {
        "title": f"Deal {amount}",
        "amount": amount,
        "currency": currency,
        "stage_id": stage.id,
        "custom_fields": custom,
    }
    return records.create("deals", values | f)


def lead(records: Any, campaign: Any, **f: Any) -> Any:
    custom = {"campaign_id": campaign.id} if campaign is not None else {}
    return records.create("leads", {"last_name": "Lead", "custom_fields": custom} | f)


@pytest.fixture
def attributed(records: Any, stages: dict[str, Any]) -> dict[str, Any]:
    spring, autumn = make_campaign(records, "Spring"), make_campaign(records, "Autumn")
    for _ in range(3):
        lead(records, spring)
    lead(records, autumn)
    lead(records, None)
    deal(records, stages["Won"], "1000.00", spring)
    deal(records, stages["Won"], "500.50", spring)
    deal(records, stages["Won"], "200.00", spring, "USD")
    deal(records, stages["Lost"], "300.00", spring)
    deal(records, stages["Open"], "700.00", spring)
    deal(records, stages["Won"], "9999.00", autumn)
    deal(records, stages["Won"], "8888.00", None)
    return {"spring": spring, "autumn": autumn}


def test_leads_deals_and_revenue(records, attributed):
    out = campaign_results(records, attributed["spring"])["attribution"]
    assert out == {
        "leads": 3,
        "converted_leads": 0,
        "deals": 5,
        "won_deals": 3,
        "lost_deals": 1,
        "open_deals": 1,
        "revenue": [
            {"currency": "EUR", "amount": "1500.50"},
            {"currency": "USD", "amount": "200.00"},
        ],
    }
    autumn = campaign_results(records, attributed["autumn"])["attribution"]
    assert (autumn["leads"], autumn["deals"], autumn["revenue"]) == (
        1,
        1,
        [{"currency": "EUR", "amount": "9999.00"}],
    )


def test_trashed_deals_do_not_count(records, attributed):
    spring = attributed["spring"]
    deal_model = records.entity("deals").model
    biggest = records.session.scalar(
        select(deal_model).where(deal_model.amount == 1000).order_by(deal_model.id)
    )
    records.delete("deals", biggest)
    revenue = campaign_results(records, spring)["attribution"]["revenue"]
    assert revenue[0] == {"currency": "EUR", "amount": "500.50"}


def test_scope_limits_attribution(records, api_as, make_user, attributed, stages):
    """A marketer who may read only their own deals and leads sees only those."""
    records.create(
        "roles",
        {
            "name": "campaign_seller",
            "title": "Campaign seller",
            "grants": {
                "campaigns": {"read": "all"},
                "deals": {"read": "own"},
                "leads": {"read": "own"},
            },
            "permissions": ["marketing.results"],
        },
    )
    seller = make_user("campaign_seller")
    spring = attributed["spring"]
    deal(records, stages["Won"], "42.00", spring, owner_id=seller.id)
    deal(records, stages["Open"], "10.00", spring, owner_id=seller.id)
    lead(records, spring, owner_id=seller.id)
    body = api_as(seller).get(f"/api/v1/campaigns/{spring.id}/results").get_json()
    assert body["attribution"] == {
        "leads": 1,
        "converted_leads": 0,
        "deals": 2,
        "won_deals": 1,
        "lost_deals": 0,
        "open_deals": 1,
        "revenue": [{"currency": "EUR", "amount": "42.00"}],
    }
    # the admin sees everything, the seller's deals included
    admin = campaign_results(records, spring)["attribution"]
    assert admin["deals"] == 7 and admin["leads"] == 4


def test_no_access_to_deals_or_leads(api_as, records, make_user, attributed):
    """Who may read neither leads nor deals is told so (null), not shown a misleading 0."""
    records.create(
        "roles",
        {
            "name": "results_only",
            "title": "Results only",
            "grants": {"campaigns": {"read": "all"}},
            "permissions": ["marketing.results"],
        },
    )
    client = api_as(make_user("results_only"))
    body = client.get(f"/api/v1/campaigns/{attributed['spring'].id}/results")
    assert body.status_code == 200
    out = body.get_json()["attribution"]
    assert out["leads"] is None and out["deals"] is None and out["revenue"] is None
    # and the check sees access when there is some: the administrator gets figures
    assert campaign_results(records, attributed["spring"])["attribution"]["leads"] == 3


def test_campaign_field_on_leads_and_deals(api, attributed):
    spring = attributed["spring"]
    r = api.post(
        "/api/v1/leads", json={"last_name": "Api", "custom_fields": {"campaign_id": spring.id}}
    )
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["custom_fields"]["campaign_id"] == spring.id
    listed = api.get(f"/api/v1/leads?custom.campaign_id={spring.id}").get_json()["data"]
    assert len(listed) == 4


def test_unknown_campaign_is_refused(api, records, attributed):
    r = api.post("/api/v1/leads", json={"last_name": "X", "custom_fields": {"campaign_id": 99999}})
    assert r.status_code == 422
    assert "campaign_id" in str(r.get_json()["errors"])
    trashed = make_campaign(records, "Trashed")
    records.delete("campaigns", trashed)
    r = api.post(
        "/api/v1/deals",
        json={"title": "X", "amount": "1.00", "custom_fields": {"campaign_id": trashed.id}},
    )
    assert r.status_code == 422
    # and a real one is taken (the check sees a campaign when there is one)
    r = api.post(
        "/api/v1/deals",
        json={
            "title": "X",
            "amount": "1.00",
            "custom_fields": {"campaign_id": attributed["spring"].id},
        },
    )
    assert r.status_code == 201, r.get_json()


def test_source_names_the_campaign(api, records, attributed):
    spring = attributed["spring"]
    r = api.post("/api/v1/leads", json={"last_name": "Src", "source": f"campaign:{spring.id}"})
    assert r.status_code == 201
    assert r.get_json()["custom_fields"] == {"campaign_id": spring.id}
    # an unknown campaign in the source is just text
    r = api.post("/api/v1/leads", json={"last_name": "Src", "source": "campaign:987654"})
    assert r.status_code == 201 and not r.get_json()["custom_fields"].get("campaign_id")
    # a campaign given explicitly wins over the source
    autumn = attributed["autumn"]
    r = api.post(
        "/api/v1/leads",
        json={
            "last_name": "Both",
            "source": f"campaign:{spring.id}",
            "custom_fields": {"campaign_id": autumn.id},
        },
    )
    assert r.get_json()["custom_fields"]["campaign_id"] == autumn.id


def test_source_parsing():
    assert source_campaign("campaign:12") == 12
    assert source_campaign("Campaign: 7 ") == 7
    assert source_campaign("campaign:") is None
    assert source_campaign("campaign:1x") is None
    assert source_campaign("web") is None
    assert source_campaign(None) is None
    assert source_campaign("campaign:" + "9" * 20) is None


def test_conversion_carries_the_campaign_to_the_deal(api, records, attributed):
    spring = attributed["spring"]
    new = lead(records, spring, email="buyer@acme.example", company_name="Acme")
    r = api.post(f"/api/v1/leads/{new.id}/convert", json={"create_deal": True, "amount": "99.00"})
    assert r.status_code == 200, r.get_json()
    deal_id = r.get_json()["deal_id"]
    assert api.get(f"/api/v1/deals/{deal_id}").get_json()["custom_fields"] == {
        "campaign_id": spring.id
    }
    out = campaign_results(records, spring)["attribution"]
    assert out["converted_leads"] == 1 and out["deals"] == 6
    # a lead without a campaign converts into a deal without one
    plain = lead(records, None, email="other@beta.example")
    r = api.post(f"/api/v1/leads/{plain.id}/convert", json={"create_deal": True})
    deal_id = r.get_json()["deal_id"]
    assert not api.get(f"/api/v1/deals/{deal_id}").get_json()["custom_fields"].get("campaign_id")


def test_results_panel_shows_attribution(web, records, session, make_contact, attributed):
    from crm_marketing.models import Recipient

    spring = attributed["spring"]
    contact = make_contact()
    session.add(Recipient(campaign_id=spring.id, contact_id=contact.id, status="sent"))
    session.commit()
    html = web.get(f"/campaigns/{spring.id}").get_data(as_text=True)
    assert f'href="/leads?custom.campaign_id={spring.id}"' in html
    assert "3 won, 1 lost, 1 open" in html
    assert "€1,500.50" in html and "$200.00" in html
    # the links list exactly the attributed records
    leads = web.get(f"/leads?custom.campaign_id={spring.id}")
    assert leads.status_code == 200
    listed = set(re.findall(r'href="/leads/(\d+)"', leads.get_data(as_text=True)))
    assert len(listed) == 3
    model = records.entity("leads").model
    ids = records.session.scalars(select(model.id).where(model.id.in_([int(i) for i in listed])))
    assert {records.session.get(model, i).custom_fields.get("campaign_id") for i in ids} == {
        spring.id
    }
