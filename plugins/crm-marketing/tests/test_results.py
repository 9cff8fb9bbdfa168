"""Campaign results: counts, rates, time series, top links, attribution and revenue, scope."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from crm_marketing.models import CampaignEvent, CampaignLink, Recipient
from crm_marketing.results import campaign_results, rates_of_campaigns, timeline
from sqlalchemy import select

T0 = dt.datetime(2026, 3, 2, 9, 15, tzinfo=dt.UTC)


def make_campaign(records: Any, name: str = "Spring sale", **fields: Any) -> Any:
    segment = records.create("segments", {"name": f"Segment of {name}", "query": "tags=vip"})
    values = {
        "name": name,
        "kind": "email",
        "segment_id": segment.id,
        "subject": "Hello {{ contact.first_name }}",
        "body_html": "<p>Hi <a href='https://example.com/a'>A</a></p>",
        "from_email": "news@example.com",
    }
    return records.create("campaigns", values | fields)


def add_recipient(session: Any, campaign: Any, contact: Any, status: str = "sent", **f: Any) -> Any:
    row = Recipient(
        campaign_id=campaign.id,
        contact_id=contact.id,
        email=contact.email,
        status=status,
        sent_at=f.pop("sent_at", T0 if status == "sent" else None),
        **f,
    )
    session.add(row)
    session.flush()
    return row


def add_event(session: Any, recipient: Any, kind: str, at: dt.datetime, **f: Any) -> Any:
    row = CampaignEvent(
        campaign_id=recipient.campaign_id, recipient_id=recipient.id, kind=kind, at=at, **f
    )
    session.add(row)
    session.flush()
    return row


@pytest.fixture
def sent_campaign(records: Any, session: Any, make_contact: Any) -> Any:
    """Ten recipients: 6 sent (1 bounced since), 1 failed, 2 skipped, 1 still queued; opens,
    clicks (one without an open), an unsubscribe, over two hours."""
    campaign = make_campaign(records)
    contacts = [make_contact() for _ in range(10)]
    link_a = CampaignLink(campaign_id=campaign.id, position=0, url="https://example.com/a")
    link_b = CampaignLink(campaign_id=campaign.id, position=1, url="https://example.com/b")
    session.add_all([link_a, link_b])
    session.flush()
    sent = [add_recipient(session, campaign, c) for c in contacts[:6]]
    add_recipient(session, campaign, contacts[6], "failed", reason="550 no such user")
    add_recipient(session, campaign, contacts[7], "skipped", reason="opted_out")
    add_recipient(session, campaign, contacts[8], "skipped", reason="no_email")
    add_recipient(session, campaign, contacts[9], "queued")
    for r in sent:
        add_event(session, r, "sent", T0)
    h1, h2 = T0 + dt.timedelta(hours=1), T0 + dt.timedelta(hours=2, minutes=30)
    # opened: 0, 1, 2 (0 twice); clicked: 1 (twice, link a), 3 (link b, never "opened")
    for r, at in ((sent[0], h1), (sent[0], h2), (sent[1], h1), (sent[2], h2)):
        add_event(session, r, "open", at)
        r.opened_at = r.opened_at or at
    for r, link, at in ((sent[1], link_a, h1), (sent[1], link_a, h2), (sent[3], link_b, h2)):
        add_event(session, r, "click", at, link_id=link.id)
        r.clicked_at = r.clicked_at or at
    add_event(session, sent[2], "unsubscribe", h2)
    sent[2].unsubscribed_at = h2
    add_event(session, sent[5], "bounce", h1)
    sent[5].bounced_at = h1
    session.commit()
    return campaign


def test_counts_and_rates(records, sent_campaign):
    out = campaign_results(records, sent_campaign)
    assert out["counts"] == {
        "recipients": 10,
        "queued": 1,
        "sent": 6,
        "delivered": 5,
        "opened": 4,  # three opened, one clicked without the image
        "clicked": 2,
        "unsubscribed": 1,
        "bounced": 1,
        "failed": 1,
        "skipped": 2,
        "unknown": 0,
        "skipped_by_reason": {"no_email": 1, "opted_out": 1},
    }
    assert out["rates"] == {
        "delivery": round(5 / 6, 4),
        "bounce": round(1 / 6, 4),
        "open": 0.8,
        "click": 0.4,
        "click_to_open": 0.5,
        "unsubscribe": 0.2,
    }
    assert out["top_links"] == [
        {"url": "https://example.com/a", "clicks": 2, "unique_clicks": 1},
        {"url": "https://example.com/b", "clicks": 1, "unique_clicks": 1},
    ]
    assert out["attribution"] is None  # sales is not enabled


def test_empty_campaign_has_no_rates(records):
    out = campaign_results(records, make_campaign(records))
    assert out["counts"]["recipients"] == 0
    assert set(out["rates"].values()) == {None}
    assert out["timeline"] == {"bucket": "hour", "points": []}
    assert out["top_links"] == []


def test_other_campaigns_do_not_count(records, session, sent_campaign, make_contact):
    other = make_campaign(records, "Other")
    r = add_recipient(session, other, make_contact(), opened_at=T0)
    add_event(session, r, "open", T0)
    session.commit()
    assert campaign_results(records, sent_campaign)["counts"]["recipients"] == 10
    assert campaign_results(records, other)["counts"]["opened"] == 1


def test_hourly_time_series_fills_gaps(records, session, sent_campaign):
    series = campaign_results(records, sent_campaign)["timeline"]
    assert series["bucket"] == "hour"
    assert series["points"] == [
        {
            "at": "2026-03-02T09:00:00Z",
            "sent": 6,
            "delivered": 5,  # the six sent that hour, but the one that bounced
            "open": 0,
            "click": 0,
            "unsubscribe": 0,
            "bounce": 0,
        },
        {
            "at": "2026-03-02T10:00:00Z",
            "sent": 0,
            "delivered": 0,
            "open": 2,
            "click": 1,
            "unsubscribe": 0,
            "bounce": 1,
        },
        {
            "at": "2026-03-02T11:00:00Z",
            "sent": 0,
            "delivered": 0,
            "open": 2,
            "click": 2,
            "unsubscribe": 1,
            "bounce": 0,
        },
    ]


def test_daily_time_series(records, session, sent_campaign):
    late = session.scalars(select(Recipient).where(Recipient.status == "sent")).first()
    add_event(session, late, "open", T0 + dt.timedelta(days=5, hours=20))
    session.commit()
    series = timeline(session, sent_campaign.id)
    assert series["bucket"] == "day"
    points = series["points"]
    assert [p["at"] for p in points] == [f"2026-03-{d:02d}T00:00:00Z" for d in range(2, 9)]
    assert points[0]["open"] == 4 and points[0]["sent"] == 6
    assert sum(p["open"] for p in points[1:-1]) == 0
    assert points[-2]["open"] == 0 and points[-1]["open"] == 1  # 2026-03-08 05:15 UTC
    # asked for explicitly, hours it is
    assert timeline(session, sent_campaign.id, "hour")["bucket"] == "hour"


def test_buckets_are_utc(records, session, make_contact):
    campaign = make_campaign(records)
    r = add_recipient(session, campaign, make_contact())
    madrid = dt.timezone(dt.timedelta(hours=1))
    add_event(session, r, "sent", dt.datetime(2026, 3, 3, 0, 30, tzinfo=madrid))
    session.commit()
    assert timeline(session, campaign.id, "day")["points"][0]["at"] == "2026-03-02T00:00:00Z"
    assert timeline(session, campaign.id, "hour")["points"][0]["at"] == "2026-03-02T23:00:00Z"


def test_rates_of_campaigns(records, sent_campaign):
    empty = make_campaign(records, "Empty")
    out = rates_of_campaigns(records.session, [sent_campaign.id, empty.id])
    assert out[sent_campaign.id] == {
        "sent": 6,
        "delivered": 5,
        "opened": 4,
        "clicked": 2,
        "open": 0.8,
        "click": 0.4,
    }
    assert out[empty.id]["open"] is None


# the API ------------------------------------------------------------------------------------


def test_results_api(api, sent_campaign):
    r = api.get(f"/api/v1/campaigns/{sent_campaign.id}/results")
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["counts"]["delivered"] == 5 and body["rates"]["open"] == 0.8
    assert body["timeline"]["points"][0]["sent"] == 6
    days = api.get(f"/api/v1/campaigns/{sent_campaign.id}/results?bucket=day").get_json()
    assert days["timeline"] == {
        "bucket": "day",
        "points": [
            {
                "at": "2026-03-02T00:00:00Z",
                "sent": 6,
                "delivered": 5,
                "open": 4,
                "click": 3,
                "unsubscribe": 1,
                "bounce": 1,
            }
        ],
    }


def test_results_api_bad_bucket(api, sent_campaign):
    r = api.get(f"/api/v1/campaigns/{sent_campaign.id}/results?bucket=minute")
    assert r.status_code == 422
    assert r.headers["Content-Type"].startswith("application/problem+json")


def test_results_api_needs_the_permission(api_as, make_user, marketer, sent_campaign):
    url = f"/api/v1/campaigns/{sent_campaign.id}/results"
    assert api_as(marketer).get(url).status_code == 200
    # read_only may read campaigns but lacks marketing.results
    assert api_as(make_user("read_only")).get(url).status_code == 403
    # a sales rep may not read campaigns at all
    assert api_as(make_user("sales_rep")).get(url).status_code == 403


def test_results_api_needs_read_access(api_as, records, make_user, sent_campaign):
    records.create(
        "roles",
        {
            "name": "own_campaigns",
            "title": "Own campaigns",
            "grants": {"campaigns": {"read": "own"}},
            "permissions": ["marketing.results"],
        },
    )
    user = make_user("own_campaigns")
    url = f"/api/v1/campaigns/{sent_campaign.id}/results"
    assert api_as(user).get(url).status_code == 404  # not theirs: its existence is not revealed
    mine = make_campaign(records, "Mine", owner_id=user.id)
    assert api_as(user).get(f"/api/v1/campaigns/{mine.id}/results").status_code == 200
    assert api_as(user).get("/api/v1/campaigns/999999/results").status_code == 404


def test_results_in_the_openapi(api):
    spec = api.get("/api/v1/openapi.json").get_json()
    op = spec["paths"]["/api/v1/campaigns/{campaign_id}/results"]["get"]
    assert "marketing.results" in op["description"]
    assert any(p["name"] == "bucket" for p in op["parameters"])


@pytest.mark.crm_plugins("marketing")
def test_results_api_hidden_when_disabled(api, cli, sent_campaign):
    assert cli("plugins", "disable", "marketing").exit_code == 0
    assert api.get(f"/api/v1/campaigns/{sent_campaign.id}/results").status_code == 404
