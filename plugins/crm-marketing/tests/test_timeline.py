"""Campaign e-mails on the contact's and company's timeline: sent, opened, clicked, unsubscribed,
each for readers of the campaign only."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from crm_marketing.models import Recipient

pytestmark = pytest.mark.crm_plugins("marketing")

T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)


def _items(api: Any, url: str) -> list[dict[str, Any]]:
    r = api.get(f"{url}/timeline?kind=campaign")
    assert r.status_code == 200, r.get_json()
    return r.get_json()["data"]


@pytest.fixture
def mailed(records, session, make_contact, make_company):
    """A contact at a company who got the "Spring" campaign: opened, clicked, unsubscribed; and
    another contact who got it too."""
    company = make_company()
    contact = make_contact(company_id=company.id, email="ana@customer.example")
    someone = make_contact(email="bo@else.example")
    campaign = records.create("campaigns", {"name": "Spring <sale>"})
    for person, extra in (
        (
            contact,
            {
                "opened_at": T0 + dt.timedelta(hours=1),
                "clicked_at": T0 + dt.timedelta(hours=2),
                "unsubscribed_at": T0 + dt.timedelta(hours=3),
            },
        ),
        (someone, {}),
    ):
        session.add(
            Recipient(
                campaign_id=campaign.id, contact_id=person.id, email=person.email,
                status="sent", sent_at=T0, **extra,
            )
        )  # fmt: skip
    session.commit()
    return {"contact": contact, "company": company, "campaign": campaign, "someone": someone}


def test_sent_opened_clicked_unsubscribed_appear_newest_first(api, mailed):
    items = _items(api, f"/api/v1/contacts/{mailed['contact'].id}")
    assert [i["data"]["event"] for i in items] == ["unsubscribed", "clicked", "opened", "sent"]
    assert items[-1]["title"] == "Campaign e-mail sent: Spring <sale>"
    assert {i["link"] for i in items} == {f"/campaigns/{mailed['campaign'].id}"}
    # the company rolls up its contact's, not the other contact's
    rolled = _items(api, f"/api/v1/companies/{mailed['company'].id}")
    assert len(rolled) == 4


def test_paging_within_campaign_events(api, mailed):
    url = f"/api/v1/contacts/{mailed['contact'].id}/timeline?kind=campaign&limit=3"
    first = api.get(url).get_json()
    assert len(first["data"]) == 3 and first["next_cursor"] == "3"
    rest = api.get(f"{url}&cursor=3").get_json()
    assert [i["data"]["event"] for i in rest["data"]] == ["sent"] and rest["next_cursor"] is None


def test_readers_without_campaigns_or_of_trashed_campaigns_see_nothing(
    api, api_as, make_user, records, mailed
):
    rep = make_user("sales_rep")
    mine = mailed["someone"]
    records.update("contacts", mine, {"owner_id": rep.id})
    body = api_as(rep).get(f"/api/v1/contacts/{mine.id}/timeline").get_json()
    assert not [i for i in body["data"] if i["kind"] == "campaign"]
    assert "campaign" not in {k["kind"] for k in body["kinds"]}
    records.delete("campaigns", mailed["campaign"])
    assert _items(api, f"/api/v1/contacts/{mailed['contact'].id}") == []


def test_page_escapes_the_campaign_name_in_spanish(web_as, make_user, mailed):
    user = make_user("admin", locale="es")
    html = web_as(user).get(f"/contacts/{mailed['contact'].id}").get_data(as_text=True)
    timeline = html.split('id="timeline-list"', 1)[1]
    assert "Abrió el correo de campaña: Spring &lt;sale&gt;" in timeline
    assert "Spring <sale>" not in html
