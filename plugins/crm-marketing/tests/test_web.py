"""Staff pages and panels: the campaign's sending and results panels, send/schedule/cancel
forms (permission, CSRF, scope), the preview, a segment's members, a contact's campaigns."""

from __future__ import annotations

import datetime as dt
import json
import re
from email.utils import parseaddr
from typing import Any

import pytest
from crm_marketing.models import Campaign, CampaignEvent, Recipient

NASTY = "<script>alert('x')</script>"
ESCAPED = "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"
T0 = dt.datetime(2026, 3, 2, 9, 15, tzinfo=dt.UTC)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def panel(html: str, name: str) -> str:
    """The markup of one panel of a record page ('' when absent)."""
    found = re.search(
        rf'<section class="card panel" aria-labelledby="panel-{name}">(.*?)</section>', html, re.S
    )
    return found.group(1) if found else ""


def make_campaign(records: Any, name: str = NASTY, query: str = "tags=news", **f: Any) -> Any:
    segment = records.create("segments", {"name": f"Segment {name}", "query": query})
    values = {
        "name": name,
        "kind": "email",
        "segment_id": segment.id,
        "subject": "Hello {{ contact.first_name }}",
        "body_html": "<p>Hello {{ contact.first_name }}, "
        "<a href='https://example.com/offer'>see the offer</a>.</p>"
        "<p><a href='{{ unsubscribe_url }}'>Unsubscribe</a></p>",
        "from_email": "news@example.com",
    }
    return records.create("campaigns", values | f)


def add_recipient(session: Any, campaign: Any, contact: Any, status: str = "sent", **f: Any):
    row = Recipient(
        campaign_id=campaign.id,
        contact_id=contact.id,
        email=contact.email,
        status=status,
        sent_at=T0 if status == "sent" else None,
        **f,
    )
    session.add(row)
    session.flush()
    session.add(CampaignEvent(campaign_id=campaign.id, recipient_id=row.id, kind="sent", at=T0))
    session.flush()
    return row


@pytest.fixture
def campaign(records: Any) -> Any:
    return make_campaign(records)


# the campaign page --------------------------------------------------------------------------


def test_campaign_page_escapes_and_offers_sending(web_as, marketer, campaign):
    page = web_as(marketer).get(f"/campaigns/{campaign.id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert NASTY not in html and ESCAPED in html
    sending = panel(html, "marketing-sending")
    assert f'action="/marketing/campaigns/{campaign.id}/send"' in sending
    assert f'action="/marketing/campaigns/{campaign.id}/schedule"' in sending
    assert "/cancel" not in sending  # nothing to cancel in a draft
    assert f'href="/marketing/campaigns/{campaign.id}/preview"' in sending
    assert 'name="csrf_token"' in sending
    assert "Draft" in sending
    # a draft with no recipients has no results yet
    assert panel(html, "marketing-results") == ""


def test_read_only_sees_neither_send_forms_nor_results(
    web_as, make_user, records, session, make_contact, campaign
):
    add_recipient(session, campaign, make_contact())
    session.commit()
    html = web_as(make_user("read_only")).get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    sending = panel(html, "marketing-sending")
    assert sending and "/send" not in sending and "/schedule" not in sending
    assert "You may not send campaigns." in sending
    assert panel(html, "marketing-results") == ""  # no marketing.results


def test_results_panel(web_as, marketer, session, make_contact, campaign):
    opener = add_recipient(session, campaign, make_contact(), opened_at=T0)
    session.add(
        CampaignEvent(
            campaign_id=campaign.id,
            recipient_id=opener.id,
            kind="open",
            at=T0 + dt.timedelta(hours=1),
        )
    )
    add_recipient(session, campaign, make_contact())
    add_recipient(session, campaign, make_contact(), "skipped", reason="opted_out")
    session.commit()
    html = web_as(marketer).get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    results = panel(html, "marketing-results")
    assert "<dt>Recipients</dt><dd>3</dd>" in results
    assert "<dt>Delivered</dt><dd>2" in results
    assert "50.0%" in results  # one of two delivered opened
    assert "Opted out: 1" in results
    chart = re.search(r"data-chart='([^']+)'", results)
    assert chart and '"type": "line"' in chart.group(1)
    assert '"labels": ["2026-03-02 09:00", "2026-03-02 10:00"]' in chart.group(1)
    assert "vendor/chart.umd.min.js" in results
    assert '<th scope="row">2026-03-02 10:00</th>' in results  # the figures as a table too


# send, schedule, cancel ----------------------------------------------------------------------


def test_send_needs_the_csrf_token(web_as, marketer, records, campaign):
    client = web_as(marketer)
    r = client.post(f"/marketing/campaigns/{campaign.id}/send")
    assert r.status_code == 400
    r = client.post(f"/marketing/campaigns/{campaign.id}/send", data={"csrf_token": "forged"})
    assert r.status_code == 400
    records.session.expire_all()
    assert records.session.get(Campaign, campaign.id).status == "draft"


def test_send_needs_the_permission(web_as, make_user, records, campaign):
    client = web_as(make_user("read_only"))  # reads campaigns, may not send
    token = csrf_of(client.get(f"/campaigns/{campaign.id}").get_data(as_text=True))
    for action in ("send", "schedule", "cancel"):
        r = client.post(
            f"/marketing/campaigns/{campaign.id}/{action}",
            data={"csrf_token": token, "at": "2030-01-01T10:00"},
        )
        assert r.status_code == 403, action
    records.session.expire_all()
    assert records.session.get(Campaign, campaign.id).status == "draft"


def test_send_outside_the_scope_is_not_found(web_as, make_user, records, campaign):
    records.create(
        "roles",
        {
            "name": "own_sender",
            "title": "Own sender",
            "grants": {"campaigns": {"read": "own", "update": "own"}},
            "permissions": ["marketing.send"],
        },
    )
    client = web_as(make_user("own_sender"))
    token = csrf_of(client.get("/").get_data(as_text=True))
    r = client.post(f"/marketing/campaigns/{campaign.id}/send", data={"csrf_token": token})
    assert r.status_code == 404


def test_schedule_and_cancel(web_as, make_user, records, campaign):
    marketer = make_user("marketer", timezone="Europe/Madrid")
    client = web_as(marketer)
    token = csrf_of(client.get(f"/campaigns/{campaign.id}").get_data(as_text=True))
    r = client.post(
        f"/marketing/campaigns/{campaign.id}/schedule",
        data={"csrf_token": token, "at": "2030-07-01T10:30"},
    )
    assert r.status_code == 303 and r.headers["Location"].endswith(f"/campaigns/{campaign.id}")
    records.session.expire_all()
    saved = records.session.get(Campaign, campaign.id)
    assert saved.status == "scheduled"
    assert saved.scheduled_at == dt.datetime(2030, 7, 1, 8, 30, tzinfo=dt.UTC)  # CEST is +2
    html = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert "is scheduled." in html
    sending = panel(html, "marketing-sending")
    assert "/cancel" in sending and "/send" not in sending
    r = client.post(f"/marketing/campaigns/{campaign.id}/cancel", data={"csrf_token": token})
    assert r.status_code == 303
    records.session.expire_all()
    assert records.session.get(Campaign, campaign.id).status == "cancelled"


def test_schedule_needs_a_time(web_as, marketer, records, campaign):
    client = web_as(marketer)
    token = csrf_of(client.get(f"/campaigns/{campaign.id}").get_data(as_text=True))
    r = client.post(
        f"/marketing/campaigns/{campaign.id}/schedule",
        data={"csrf_token": token, "at": "next tuesday"},
    )
    assert r.status_code == 303
    html = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert "Give a date and time." in html
    r = client.post(
        f"/marketing/campaigns/{campaign.id}/schedule",
        data={"csrf_token": token, "at": "2001-01-01T10:00"},
    )
    html = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert "Choose a time in the future." in html
    records.session.expire_all()
    assert records.session.get(Campaign, campaign.id).status == "draft"


def test_send_now(web_as, marketer, records, make_contact, campaign, smtp_peer, immediate_jobs):
    people = [make_contact(tags=["news"], first_name=f"P{n}") for n in range(3)]
    make_contact(tags=["other"])
    client = web_as(marketer)
    token = csrf_of(client.get(f"/campaigns/{campaign.id}").get_data(as_text=True))
    r = client.post(f"/marketing/campaigns/{campaign.id}/send", data={"csrf_token": token})
    assert r.status_code == 303
    # the sender lands on the results page
    assert r.headers["Location"].endswith(f"/marketing/campaigns/{campaign.id}/results")
    records.session.expire_all()
    assert records.session.get(Campaign, campaign.id).status in ("sending", "sent")
    html = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "Sending " in html  # the flash
    # a second click is refused and says so; nobody gets a second message
    r = client.post(f"/marketing/campaigns/{campaign.id}/send", data={"csrf_token": token})
    assert r.status_code == 303
    assert 'class="flash flash-error"' in client.get(r.headers["Location"]).get_data(as_text=True)
    sent_to = sorted(parseaddr(m["To"])[1] for m in smtp_peer.parsed())
    assert sent_to == sorted(p.email for p in people)


# preview --------------------------------------------------------------------------------------


def test_preview_for_a_contact(crm, web_as, marketer, make_contact, campaign):
    from crm_marketing.links import preview_unsubscribe_url

    contact = make_contact(first_name=NASTY)
    client = web_as(marketer)
    page = client.get(f"/marketing/campaigns/{campaign.id}/preview?contact_id={contact.id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert NASTY not in html and "Hello &lt;script&gt;" in html  # the subject, escaped
    frame_url = f"/marketing/campaigns/{campaign.id}/preview/frame?contact_id={contact.id}"
    assert f'src="{frame_url}"' in html and 'sandbox=""' in html
    frame = client.get(frame_url)
    body = frame.get_data(as_text=True)
    assert frame.status_code == 200
    csp = frame.headers["Content-Security-Policy"]
    assert "sandbox" in csp and "default-src 'none'" in csp and "script-src" not in csp
    assert "frame-ancestors 'self'" in csp and frame.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert "<script" not in body and "Hello &lt;script&gt;" in body
    assert 'href="https://example.com/offer"' in body  # not rewritten for tracking
    assert f'href="{preview_unsubscribe_url(crm)}"' in body  # the unsubscribe link of nobody


def test_preview_with_the_sample_contact(web_as, marketer, campaign):
    client = web_as(marketer)
    html = client.get(f"/marketing/campaigns/{campaign.id}/preview").get_data(as_text=True)
    assert "Hello Ada" in html
    body = client.get(f"/marketing/campaigns/{campaign.id}/preview/frame").get_data(as_text=True)
    assert "Hello Ada" in body


def test_preview_respects_the_contact_scope(web_as, make_user, make_contact, records, campaign):
    records.create(
        "roles",
        {
            "name": "own_contacts",
            "title": "Own contacts",
            "grants": {"campaigns": {"read": "all"}, "contacts": {"read": "own"}},
            "permissions": [],
        },
    )
    user = make_user("own_contacts")
    theirs, other = make_contact(owner_id=user.id), make_contact()
    client = web_as(user)
    base = f"/marketing/campaigns/{campaign.id}/preview"
    assert client.get(f"{base}?contact_id={theirs.id}").status_code == 200
    assert client.get(f"{base}?contact_id={other.id}").status_code == 404
    assert client.get(f"{base}/frame?contact_id={other.id}").status_code == 404
    assert client.get(f"{base}?contact_id=abc").status_code == 404


def test_preview_of_another_scope_campaign_is_not_found(web_as, make_user, campaign):
    assert web_as(make_user("sales_rep")).get(
        f"/marketing/campaigns/{campaign.id}/preview"
    ).status_code in (403, 404)


# segments and contacts ---------------------------------------------------------------------------


def test_segment_panel_and_member_pages(web_as, marketer, records, make_contact, monkeypatch):
    from crm_marketing import web as marketing_web

    monkeypatch.setattr(marketing_web, "MEMBERS_PAGE", 2)
    segment = records.create("segments", {"name": NASTY, "query": "tags=club"})
    members = [make_contact(tags=["club"], last_name=f"<b>{n}</b>") for n in range(3)]
    make_contact(tags=["other"])
    client = web_as(marketer)
    html = client.get(f"/segments/{segment.id}").get_data(as_text=True)
    members_panel = panel(html, "marketing-members")
    assert "<strong>3</strong>" in members_panel
    assert "&lt;b&gt;0&lt;/b&gt;" in members_panel and "<b>0</b>" not in members_panel
    assert f'href="/marketing/segments/{segment.id}/members"' in members_panel
    page = client.get(f"/marketing/segments/{segment.id}/members").get_data(as_text=True)
    assert ESCAPED in page and NASTY not in page
    assert [f"/contacts/{m.id}" in page for m in members] == [True, True, False]
    next_url = re.search(r'href="([^"]+)" rel="next"', page).group(1).replace("&amp;", "&")
    last = client.get(next_url).get_data(as_text=True)
    assert f"/contacts/{members[2].id}" in last and 'rel="next"' not in last


def test_segment_members_in_the_viewer_scope(web_as, make_user, records, make_contact):
    records.create(
        "roles",
        {
            "name": "own_contacts_segments",
            "title": "Own contacts",
            "grants": {"segments": {"read": "all"}, "contacts": {"read": "own"}},
            "permissions": [],
        },
    )
    user = make_user("own_contacts_segments")
    segment = records.create("segments", {"name": "Club", "query": "tags=club"})
    mine = make_contact(tags=["club"], owner_id=user.id)
    other = make_contact(tags=["club"])
    html = web_as(user).get(f"/segments/{segment.id}").get_data(as_text=True)
    members_panel = panel(html, "marketing-members")
    assert "<strong>1</strong>" in members_panel
    assert f"/contacts/{mine.id}" in members_panel and f"/contacts/{other.id}" not in members_panel


def test_contact_panel(web_as, make_user, marketer, records, session, make_contact):
    contact = make_contact()
    first, second = make_campaign(records, "First"), make_campaign(records, NASTY)
    add_recipient(session, first, contact, opened_at=T0, clicked_at=T0)
    add_recipient(session, second, contact, "skipped", reason="opted_out")
    session.commit()
    html = web_as(marketer).get(f"/contacts/{contact.id}").get_data(as_text=True)
    campaigns = panel(html, "marketing-contact")
    assert f"/campaigns/{first.id}" in campaigns and f"/campaigns/{second.id}" in campaigns
    assert ESCAPED in campaigns and NASTY not in campaigns
    assert "Opened, Clicked" in campaigns and "Skipped" in campaigns and "Opted out" in campaigns
    # read_only reads campaigns but not results: which campaigns, not what the contact did
    html = web_as(make_user("read_only")).get(f"/contacts/{contact.id}").get_data(as_text=True)
    campaigns = panel(html, "marketing-contact")
    assert f"/campaigns/{first.id}" in campaigns and "Opened" not in campaigns
    # a sales rep may not read campaigns: no panel
    rep = make_user("sales_rep")
    records.update("contacts", contact, {"owner_id": rep.id})
    html = web_as(rep).get(f"/contacts/{contact.id}").get_data(as_text=True)
    assert panel(html, "marketing-contact") == ""


def test_contact_panel_in_the_campaign_scope(web_as, make_user, records, session, make_contact):
    records.create(
        "roles",
        {
            "name": "own_campaigns_reader",
            "title": "Own campaigns",
            "grants": {"campaigns": {"read": "own"}, "contacts": {"read": "all"}},
            "permissions": [],
        },
    )
    user = make_user("own_campaigns_reader")
    contact = make_contact()
    mine = make_campaign(records, "Mine", owner_id=user.id)
    other = make_campaign(records, "Not mine")
    add_recipient(session, mine, contact)
    add_recipient(session, other, contact)
    session.commit()
    html = web_as(user).get(f"/contacts/{contact.id}").get_data(as_text=True)
    campaigns = panel(html, "marketing-contact")
    assert f"/campaigns/{mine.id}" in campaigns and f"/campaigns/{other.id}" not in campaigns


def test_pages_need_sign_in(client, campaign):
    r = client.get(f"/marketing/campaigns/{campaign.id}/preview")
    assert r.status_code in (302, 303, 401)


# direct mail --------------------------------------------------------------------------------------


def test_direct_mail_labels(web_as, make_user, marketer, records, make_contact):
    segment = records.create("segments", {"name": "Post", "query": "tags=post"})
    campaign = records.create(
        "campaigns", {"name": NASTY, "kind": "direct_mail", "segment_id": segment.id}
    )
    address = {"street": "Calle Mayor 1", "postal_code": "28013", "city": "Madrid", "country": "ES"}
    make_contact(tags=["post"], first_name="=HYPERLINK()", **address)
    make_contact(tags=["post"], first_name="NoAddress")
    client = web_as(marketer)
    html = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    sending = panel(html, "marketing-sending")
    assert "Make the mailing list" in sending and "/schedule" not in sending
    assert "/preview" not in sending and "labels" not in sending
    assert client.get(f"/marketing/campaigns/{campaign.id}/labels.csv").status_code == 409
    token = csrf_of(html)
    r = client.post(f"/marketing/campaigns/{campaign.id}/send", data={"csrf_token": token})
    assert r.status_code == 303
    html = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert "is ready: print its address labels." in html
    sending = panel(html, "marketing-sending")
    assert f"/marketing/campaigns/{campaign.id}/labels.pdf" in sending
    csv = client.get(f"/marketing/campaigns/{campaign.id}/labels.csv")
    assert csv.status_code == 200 and csv.mimetype == "text/csv"
    text = csv.get_data(as_text=True)
    assert "Calle Mayor 1" in text and "NoAddress" not in text
    assert ",'=HYPERLINK() " in text  # a formula is neutralised
    assert f"campaign-{campaign.id}-labels.csv" in csv.headers["Content-Disposition"]
    pdf = client.get(f"/marketing/campaigns/{campaign.id}/labels.pdf")
    assert pdf.status_code == 200 and pdf.get_data().startswith(b"%PDF")
    # somebody who may not read contacts gets none
    records.create(
        "roles",
        {
            "name": "campaigns_only",
            "title": "Campaigns only",
            "grants": {"campaigns": {"read": "all"}},
            "permissions": [],
        },
    )
    other = web_as(make_user("campaigns_only"))
    assert other.get(f"/marketing/campaigns/{campaign.id}/labels.csv").status_code == 403


def test_results_page_charts_every_series_with_no_inline_script(
    web_as, marketer, make_user, session, make_contact, campaign
):
    opener = add_recipient(session, campaign, make_contact(), opened_at=T0)
    session.add(
        CampaignEvent(
            campaign_id=campaign.id,
            recipient_id=opener.id,
            kind="open",
            at=T0 + dt.timedelta(hours=1),
        )
    )
    bounced = add_recipient(session, campaign, make_contact(), bounced_at=T0)
    session.add(
        CampaignEvent(campaign_id=campaign.id, recipient_id=bounced.id, kind="bounce", at=T0)
    )
    session.commit()
    client = web_as(marketer)
    page = client.get(f"/marketing/campaigns/{campaign.id}/results")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    chart = re.search(r"data-chart='([^']+)'", html)
    assert chart, html
    config = json.loads(chart.group(1).replace("&#34;", '"').replace("&#39;", "'"))
    series = {d["label"]: d["data"] for d in config["data"]["datasets"]}
    assert list(series) == ["Sent", "Delivered", "Opens", "Clicks", "Bounces", "Unsubscribes"]
    assert series["Sent"] == [2, 0] and series["Delivered"] == [1, 0]
    assert series["Opens"] == [0, 1] and series["Bounces"] == [1, 0]
    # Chart.js vendored, loaded as a file; no inline script on the page
    assert "vendor/chart.umd.min.js" in html
    assert not re.search(r"<script(?![^>]*\ssrc=)[^>]*>", html)
    # the campaign page links to it; readers without marketing.results are refused
    campaign_page = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert f"/marketing/campaigns/{campaign.id}/results" not in campaign_page  # still a draft
    reader = web_as(make_user("read_only"))
    assert reader.get(f"/marketing/campaigns/{campaign.id}/results").status_code == 403
    assert client.get("/marketing/campaigns/999999/results").status_code == 404


def test_results_page_speaks_spanish(web_as, make_user, campaign):
    client = web_as(make_user("marketer", locale="es"))
    html = client.get(f"/marketing/campaigns/{campaign.id}/results").get_data(as_text=True)
    assert "Resultados de" in html and "Actualizar" in html
