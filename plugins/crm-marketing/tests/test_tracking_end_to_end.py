"""The links of a really sent message, followed: pixel, clicks, one-click unsubscribe from the
headers, a bounce of that very message; and the next send honours the opt-out and the bounce."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from crm_marketing import sending
from crm_marketing.models import Recipient
from sqlalchemy import select
from tracking_kit import eml, events

BODY = (
    '<p>Hello {{ contact.first_name }}, <a href="https://shop.example.com/sale">see the sale</a>'
    ' or <a href="https://shop.example.com/faq">read the FAQ</a>.</p>'
)


def campaign_for(records, segment, name):
    return records.create(
        "campaigns",
        {
            "name": name,
            "kind": "email",
            "segment_id": segment.id,
            "subject": "Winter sale",
            "body_html": BODY,
            "from_email": "news@shop.example.com",
        },
    )


def send(app, crm, campaign):
    """Start the send; the job runs at once (immediate_jobs), in the app context alone, as in
    a worker."""
    sending.start(crm, campaign)


def local(url):
    """The path and query of an absolute link on the instance."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def html_of(message):
    return message.get_body(("html",)).get_content()


def test_links_of_a_sent_message(
    app, crm, client, session, records, make_contact, smtp_peer, immediate_jobs, cli, tmp_path
):
    reader = make_contact(first_name="Ana", email="ana@example.net", tags=["winter"])
    leaver = make_contact(first_name="Leo", email="leo@example.net", tags=["winter"])
    gone = make_contact(first_name="Gil", email="gil@example.net", tags=["winter"])
    segment = records.create("segments", {"name": "Winter", "query": "tags=winter"})
    first = campaign_for(records, segment, "Winter sale")
    send(app, crm, first)
    messages = {m["To"].addresses[0].addr_spec: m for m in smtp_peer.parsed()}
    assert set(messages) == {reader.email, leaver.email, gone.email}

    # the reader's mail client loads the pixel, then the reader clicks both links
    html = html_of(messages[reader.email])
    pixel = re.search(r'<img[^>]+src="([^"]+/m/o/[^"]+\.gif)"', html)
    assert pixel, html
    assert client.get(local(pixel.group(1))).mimetype == "image/gif"
    clicks = re.findall(r'href="([^"]+/m/c/[^"]+)"', html)
    assert len(clicks) == 2
    targets = {client.get(local(url)).headers["Location"] for url in clicks}
    assert targets == {"https://shop.example.com/sale", "https://shop.example.com/faq"}
    rows = {
        r.email: r
        for r in session.scalars(select(Recipient).execution_options(populate_existing=True))
    }
    assert rows[reader.email].opened_at is not None
    assert rows[reader.email].clicked_at is not None
    assert len(events(session, "click")) == 2

    # the leaver's mail client unsubscribes with one click (RFC 8058), without cookies
    message = messages[leaver.email]
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = re.fullmatch(r"\s*<(https?://[^>\s]+)>", str(message["List-Unsubscribe"]))
    assert unsubscribe, message["List-Unsubscribe"]
    r = app.test_client(use_cookies=False).post(
        local(unsubscribe.group(1)), data={"List-Unsubscribe": "One-Click"}
    )
    assert r.status_code == 200
    session.expire_all()
    assert session.get(type(leaver), leaver.id).email_opt_out is True

    # the message to Gil bounces: the DSN quotes its Message-ID
    raw = eml(
        "dsn_hard_postfix.eml", email=gone.email, message_id=str(messages[gone.email]["Message-ID"])
    )
    (tmp_path / "bounce.eml").write_bytes(raw)
    result = cli("marketing", "bounces", str(tmp_path / "bounce.eml"))
    assert f"recorded: hard 5.1.1 gil@example.net (campaign {first.id})" in result.output

    # the next campaign reaches the reader only
    smtp_peer.clear()
    second = campaign_for(records, segment, "Last days")
    send(app, crm, second)
    assert [m["To"].addresses[0].addr_spec for m in smtp_peer.parsed()] == [reader.email]
