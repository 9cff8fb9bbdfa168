"""Opt-out is the contact's consent, a core matter: the links of mail already sent keep working
when the marketing plugin is disabled. New messages carry the core's ``/u/<token>``; messages
sent before carry ``/m/u/<token>``, which still work too, enabled or not."""

from __future__ import annotations

import re
import secrets
from urllib.parse import urlsplit

from crm_marketing import sending, tokens
from crm_marketing.models import Recipient
from sqlalchemy import select
from tracking_kit import events, make_campaign, make_link, make_recipient

from crmcore import consent
from crmcore.contacts.models import Contact
from crmcore.instance import disable_plugin, enable_plugin

BODY = (
    '<p>Hello {{ contact.first_name }}, <a href="https://shop.example.com/sale">see the sale</a>.'
    ' <a href="{{ unsubscribe_url }}">Unsubscribe</a></p>'
)


def local(url):
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def fresh(session, model, id_):
    session.expire_all()
    return session.get(model, id_)


def disable(crm):
    disable_plugin(crm, "marketing")
    crm.forget_enabled()


def send_to(crm, records, make_contact, smtp_peer):
    ana = make_contact(first_name="Ana", email="ana@example.net", tags=["winter"], locale="es")
    segment = records.create("segments", {"name": "Winter", "query": "tags=winter"})
    campaign = records.create(
        "campaigns",
        {
            "name": "Winter sale",
            "kind": "email",
            "segment_id": segment.id,
            "subject": "Winter sale",
            "body_html": BODY,
            "from_email": "news@shop.example.com",
        },
    )
    sending.start(crm, campaign)
    (message,) = smtp_peer.parsed()
    return ana, campaign, message


def test_unsubscribe_from_a_sent_message_with_the_plugin_disabled(
    crm, client, session, records, make_contact, smtp_peer, immediate_jobs
):
    ana, campaign, message = send_to(crm, records, make_contact, smtp_peer)
    header = message["List-Unsubscribe"].strip("<>")
    html = message.get_body(("html",)).get_content()
    assert "/u/" in urlsplit(header).path and "/m/u/" not in header
    assert f'href="{header}"' in html  # the link in the text is the same core link
    pixel = re.search(r'src="([^"]+/m/o/[^"]+\.gif)"', html).group(1)
    click = re.search(r'href="([^"]+/m/c/[^"]+)"', html).group(1)

    disable(crm)
    # the pixel is still a picture, the click still leads to the link, nothing is counted
    r = client.get(local(pixel))
    assert (r.status_code, r.mimetype) == (200, "image/gif")
    r = client.get(local(click))
    assert (r.status_code, r.headers["Location"]) == (302, "https://shop.example.com/sale")
    assert events(session, "open") == [] and events(session, "click") == []
    # a forged click token: a neutral page, no redirect
    r = client.get(local(click)[:-3] + "xyz")
    assert r.status_code == 404 and "Location" not in r.headers

    page = client.get(local(header))
    assert page.status_code == 200
    assert '<html lang="es">' in page.get_data(as_text=True)  # the contact's language
    assert fresh(session, Contact, ana.id).email_opt_out is False  # GET changes nothing
    r = client.post(local(header), data={"List-Unsubscribe": "One-Click"})
    assert r.status_code == 200
    contact = fresh(session, Contact, ana.id)
    assert contact.email_opt_out is True
    assert contact.email_opt_out_source == f"one-click:campaign:{campaign.id}"
    # the plugin's rows were not touched while it was disabled
    assert events(session, "unsubscribe") == []

    # enabled again: the same link says it is done, and the next send skips Ana
    enable_plugin(crm, "marketing")
    crm.forget_enabled()
    again = client.post(local(header)).get_data(as_text=True)
    assert "ya" in again or "already" in again


def test_the_core_link_marks_the_recipient_while_enabled(
    crm, client, session, records, make_contact, smtp_peer, immediate_jobs
):
    ana, campaign, message = send_to(crm, records, make_contact, smtp_peer)
    header = message["List-Unsubscribe"].strip("<>")
    assert client.post(local(header)).status_code == 200
    (recipient,) = session.scalars(
        select(Recipient).execution_options(populate_existing=True)
    ).all()
    assert recipient.unsubscribed_at is not None
    (event,) = events(session, "unsubscribe")
    assert event.detail == "unsubscribe"
    assert (
        fresh(session, Contact, ana.id).email_opt_out_source
        == f"unsubscribe:campaign:{campaign.id}"
    )
    client.post(local(header))  # twice: still one event
    assert len(events(session, "unsubscribe")) == 1


def test_an_older_marketing_link_works_with_the_plugin_disabled(
    crm, client, session, records, make_contact
):
    contact = make_contact(first_name="Leo", email="leo@example.net")
    twin = make_contact(first_name="Leo", email="leo@example.net")
    campaign = make_campaign(records)
    recipient = make_recipient(session, campaign, contact)
    old = f"/m/u/{tokens.dumps(crm, tokens.UNSUBSCRIBE, [recipient.id])}"
    disable(crm)
    page = client.get(old).get_data(as_text=True)
    assert "l•••@example.net" in page and "leo@example.net" not in page
    assert client.post(old).status_code == 200
    assert fresh(session, Contact, contact.id).email_opt_out is True
    assert fresh(session, Contact, twin.id).email_opt_out is True
    assert fresh(session, Recipient, recipient.id).unsubscribed_at is None  # plugin untouched


def test_forged_links_change_nothing_with_the_plugin_disabled(
    crm, client, session, records, make_contact
):
    contact = make_contact(first_name="Eva", email="eva@example.net")
    campaign = make_campaign(records)
    recipient = make_recipient(session, campaign, contact)
    link = make_link(session, campaign, "https://shop.example.com/")
    disable(crm)
    forged = [
        f"/m/u/{secrets.token_urlsafe(20)}",
        f"/m/u/{tokens.dumps(crm, tokens.OPEN, [recipient.id])}",  # another purpose
        f"/m/u/{tokens.dumps(crm, tokens.UNSUBSCRIBE, [2_000_000_000])}",
        f"/u/{tokens.dumps(crm, tokens.UNSUBSCRIBE, [recipient.id])}",  # the plugin's token
        f"/u/{consent.dumps(crm, contact.id, 'marketing', recipient.id)[:-2]}xx",
        f"/u/{secrets.token_urlsafe(40)}",
    ]
    for url in forged:
        for method in ("get", "post"):
            r = getattr(client, method)(url)
            assert r.status_code == 404, url
            assert "eva" not in r.get_data(as_text=True).lower()
    click = tokens.dumps(crm, tokens.CLICK, [recipient.id, link.id + 1])
    assert client.get(f"/m/c/{click}").status_code == 404
    assert fresh(session, Contact, contact.id).email_opt_out is False
    # routes that are not links in mail stay hidden
    assert client.get("/m/subscribe").status_code == 404
