"""Demo data: segments, a template, a sent campaign with results, attributed sales."""

from __future__ import annotations

import pytest
from crm_marketing.models import Campaign, Segment
from crm_marketing.results import campaign_results
from sqlalchemy import select

from crmcore.instance import create_demo


def _spring(records):
    return records.session.scalar(select(Campaign).where(Campaign.name == "Spring newsletter"))


def test_demo_data(crm, records):
    _password, created = create_demo(crm, password="demo-password-123")
    assert created
    segments = {s.name: s for s in records.session.scalars(select(Segment))}
    assert segments["Visitors of the trade fair"].kind == "static"
    assert segments["Newsletter subscribers"].kind == "dynamic"
    statuses = {c.name: c.status for c in records.session.scalars(select(Campaign))}
    assert statuses == {
        "Spring newsletter": "sent",
        "Summer offer for Spain": "draft",
        "Catalogue by post": "draft",
    }
    out = campaign_results(records, _spring(records))
    counts = out["counts"]
    assert counts["sent"] > 0 and counts["recipients"] == counts["sent"] + counts["skipped"]
    assert 0 < counts["opened"] < counts["sent"] and 0 < counts["clicked"] <= counts["opened"]
    assert counts["bounced"] == 1 and counts["unsubscribed"] == 1
    assert out["timeline"]["bucket"] == "day" and out["top_links"]
    assert out["attribution"] is None  # no sales


@pytest.mark.crm_plugins("marketing", "sales")
def test_demo_data_with_sales(crm, records):
    create_demo(crm, password="demo-password-123")
    out = campaign_results(records, _spring(records))["attribution"]
    assert out["leads"] == 3 and out["deals"] == 2 and out["won_deals"] == 1
    assert out["revenue"] == [{"currency": "EUR", "amount": "4800.00"}]


@pytest.mark.crm_plugins("marketing", "sales", "support", "kb")
def test_demo_pages_render(crm, records, web_as):
    create_demo(crm, password="demo-password-123")
    from crmcore.users.models import User

    marketer = records.session.scalar(select(User).where(User.email == "marketer@example.com"))
    client = web_as(marketer)
    spring = _spring(records)
    for url in (
        "/",
        f"/campaigns/{spring.id}",
        f"/segments/{spring.segment_id}",
        f"/marketing/campaigns/{spring.id}/preview",
    ):
        assert client.get(url).status_code == 200, url
