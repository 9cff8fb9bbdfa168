"""Open pixel and click redirects: signed per-recipient tokens, counted events, no open
redirect."""

from __future__ import annotations

import secrets

import pytest
from crm_marketing import tokens
from crm_marketing.events import IMPLIED_OPEN, record_event
from crm_marketing.public import PIXEL
from tracking_kit import events, make_campaign, make_link, make_recipient


@pytest.fixture
def sent(records, session, make_contact):
    campaign = make_campaign(records)
    recipient = make_recipient(session, campaign, make_contact())
    link = make_link(session, campaign, "https://shop.example.com/sale?utm_source=crm")
    return campaign, recipient, link


def fresh(session, record):
    session.expire_all()
    return session.get(type(record), record.id)


def pixel(crm, recipient_id):
    return f"/m/o/{tokens.dumps(crm, tokens.OPEN, [recipient_id])}.gif"


def click(crm, recipient_id, link_id):
    return f"/m/c/{tokens.dumps(crm, tokens.CLICK, [recipient_id, link_id])}"


# open pixel ------------------------------------------------------------------------------------


def test_pixel_is_a_gif_that_is_never_cached(crm, client, sent):
    _campaign, recipient, _link = sent
    r = client.get(pixel(crm, recipient.id))
    assert r.status_code == 200
    assert r.mimetype == "image/gif"
    assert r.get_data() == PIXEL and r.get_data().startswith(b"GIF89a")
    assert r.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in r.headers


def test_first_open_sets_opened_at_every_open_is_counted(crm, client, session, sent):
    campaign, recipient, _link = sent
    client.get(pixel(crm, recipient.id))
    first = fresh(session, recipient).opened_at
    assert first is not None
    client.get(pixel(crm, recipient.id))
    assert fresh(session, recipient).opened_at == first
    opens = events(session, "open")
    assert [(e.campaign_id, e.recipient_id) for e in opens] == [(campaign.id, recipient.id)] * 2


def test_head_requests_count_nothing(crm, client, session, sent):
    _campaign, recipient, _link = sent
    assert client.head(pixel(crm, recipient.id)).status_code == 200
    assert events(session) == []


@pytest.mark.parametrize(
    "token",
    [
        "junk",
        "Zk3q9xT0bV2mRc7LwYp1aNs8dHj4uFe6gKo5iQ-_",  # random-looking, fixed (xdist)
        "a" * 3000,
        "..",
        "%00",
    ],
)
def test_pixel_for_junk_is_the_same_gif_and_counts_nothing(client, session, sent, token):
    r = client.get(f"/m/o/{token}.gif")
    assert (r.status_code, r.mimetype, r.get_data()) == (200, "image/gif", PIXEL)
    assert r.headers["Cache-Control"] == "no-store"
    assert events(session) == []


def test_pixel_refuses_other_purposes_and_unknown_recipients(crm, client, session, sent):
    _campaign, recipient, link = sent
    for token in (
        tokens.dumps(crm, tokens.UNSUBSCRIBE, [recipient.id]),
        tokens.dumps(crm, tokens.CLICK, [recipient.id, link.id]),
        tokens.dumps(crm, tokens.OPEN, [2_000_000_000]),
        tokens.dumps(crm, tokens.OPEN, [recipient.id, 1]),
    ):
        assert client.get(f"/m/o/{token}.gif").get_data() == PIXEL
    assert events(session) == []
    assert fresh(session, recipient).opened_at is None


# clicks ----------------------------------------------------------------------------------------


def test_click_redirects_to_the_campaign_link_and_counts(crm, client, session, sent):
    campaign, recipient, link = sent
    r = client.get(click(crm, recipient.id, link.id))
    assert r.status_code == 302
    assert r.headers["Location"] == "https://shop.example.com/sale?utm_source=crm"
    assert r.headers["Cache-Control"] == "no-store"
    [event] = events(session, "click")
    assert (event.campaign_id, event.recipient_id, event.link_id) == (
        campaign.id,
        recipient.id,
        link.id,
    )
    recipient = fresh(session, recipient)
    assert recipient.clicked_at is not None
    # a click implies the message was opened (images may have been blocked)
    assert recipient.opened_at == recipient.clicked_at
    [implied] = events(session, "open")
    assert implied.detail == IMPLIED_OPEN


def test_a_second_click_keeps_the_first_time_and_implies_no_second_open(crm, client, session, sent):
    _campaign, recipient, link = sent
    client.get(pixel(crm, recipient.id))
    client.get(click(crm, recipient.id, link.id))
    first = fresh(session, recipient).clicked_at
    client.get(click(crm, recipient.id, link.id))
    assert fresh(session, recipient).clicked_at == first
    assert len(events(session, "click")) == 2
    assert len(events(session, "open")) == 1


def test_a_link_of_another_campaign_is_refused(crm, client, session, records, sent):
    _campaign, recipient, _link = sent
    other = make_campaign(records, name="Other campaign")
    foreign = make_link(session, other, "https://elsewhere.example.org/")
    reference = client.get(f"/m/c/{secrets.token_urlsafe(30)}")
    r = client.get(click(crm, recipient.id, foreign.id))
    assert r.status_code == 404
    assert "Location" not in r.headers
    assert r.get_data() == reference.get_data()
    assert events(session) == []


def test_the_target_comes_from_the_campaign_never_from_the_url(crm, client, sent):
    _campaign, recipient, link = sent
    r = client.get(click(crm, recipient.id, link.id) + "?url=https://evil.example/")
    assert r.headers["Location"] == link.url
    r = client.get(
        f"/m/c/{tokens.dumps(crm, tokens.CLICK, [recipient.id, 'https://evil.example/'])}"
    )
    assert r.status_code == 404 and "Location" not in r.headers
    r = client.get("/m/c/https%3A%2F%2Fevil.example%2F")
    assert r.status_code == 404 and "Location" not in r.headers


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(document.cookie)",
        "JavaScript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "//evil.example/",
        "/relative/path",
        "ftp://files.example.org/",
        "https://",
        "https://shop.example.com/\r\nSet-Cookie: x=1",
        "https://shop.example.com/a b",
        "http:\\\\evil.example",
    ],
)
def test_only_http_links_are_followed(crm, client, session, sent, url):
    campaign, recipient, _link = sent
    bad = make_link(session, campaign, url)
    r = client.get(click(crm, recipient.id, bad.id))
    assert r.status_code == 404
    assert "Location" not in r.headers
    assert events(session, "click") == []


def test_forged_click_tokens_do_nothing(crm, client, session, sent):
    _campaign, recipient, link = sent
    good = tokens.dumps(crm, tokens.CLICK, [recipient.id, link.id])
    body, _dot, signature = good.rpartition(".")
    reference = client.get(f"/m/c/{secrets.token_urlsafe(30)}").get_data()
    for token in (
        body + "." + signature[:4] + ("A" if signature[4] != "A" else "B") + signature[5:],
        tokens.dumps(crm, tokens.OPEN, [recipient.id, link.id]),
        tokens.dumps(crm, tokens.UNSUBSCRIBE, [recipient.id, link.id]),
        tokens.dumps(crm, tokens.CLICK, [recipient.id]),
        tokens.dumps(crm, tokens.CLICK, [2_000_000_000, link.id]),
        tokens.dumps(crm, tokens.CLICK, [recipient.id, 2_000_000_000]),
        tokens.dumps(crm, tokens.CLICK, [recipient.id, link.id, 1]),
    ):
        r = client.get(f"/m/c/{token}")
        assert r.status_code == 404, token
        assert r.get_data() == reference
    assert events(session) == []
    # and the genuine one works (the loop above can fail)
    assert client.get(f"/m/c/{good}").status_code == 302


# record_event ----------------------------------------------------------------------------------


def test_record_event_refuses_unknown_kinds(session, sent):
    _campaign, recipient, _link = sent
    with pytest.raises(ValueError, match="unknown event kind"):
        record_event(session, recipient, "exploded")


def test_record_event_sets_first_time_columns(session, sent):
    _campaign, recipient, _link = sent
    record_event(session, recipient, "bounce", detail="hard 5.1.1: " + "x" * 1000)
    session.commit()
    recipient = fresh(session, recipient)
    assert recipient.bounced_at is not None
    [event] = events(session, "bounce")
    assert len(event.detail) == 500
