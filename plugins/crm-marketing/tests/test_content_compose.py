"""The message each recipient gets: MIME structure, headers, tracked links, pixel,
unsubscribe link, plain text; compiled once per campaign version."""

from __future__ import annotations

from email import message_from_bytes, policy

import pytest
from crm_marketing import compose, htmlmail, links, templating, tokens
from crm_marketing.models import CampaignLink, Recipient
from sqlalchemy import select

from crmcore import consent
from crmcore.mail import check_headers, send
from crmcore.settings import base_url

BODY = (
    "<h1>Hello {{ contact.first_name }}</h1>\n"
    '<p>See <a href="https://shop.example/spring?a=1&amp;b=2">the shop</a>, '
    '<a href="http://old.example/">the old site</a> and again '
    '<a href="https://shop.example/spring?a=1&amp;b=2">the shop</a>.</p>\n'
    '<p><a href="mailto:help@example.com">Write to us</a> or '
    '<a href="tel:+34910000000">call</a>; your page: '
    '<a href="https://shop.example/u/{{ contact.email }}">yours</a>; '
    '<a href="javascript:alert(1)">bad</a></p>'
)


@pytest.fixture
def campaign(records):
    segment = records.create("segments", {"name": "All", "query": ""})
    return records.create(
        "campaigns",
        {
            "name": "Spring",
            "segment_id": segment.id,
            "subject": "Spring for {{ contact.first_name }}",
            "body_html": BODY,
            "from_email": "news@example.com",
            "from_name": "Ünïcode News, Ltd".replace(",", ""),
            "reply_to": "help@example.com",
        },
    )


def unsubscribe_of(crm, recipient):
    """The core's unsubscribe link of a recipient's message (it survives disabling the plugin;
    test_consent_when_disabled.py)."""
    return links.unsubscribe_url(
        crm, recipient.id, contact_id=recipient.contact_id, campaign_id=recipient.campaign_id
    )


def _recipient(session, campaign, contact, message_id="<r1@example.com>"):
    recipient = Recipient(
        campaign_id=campaign.id,
        contact_id=contact.id,
        email=contact.email,
        status="queued",
        message_id=message_id,
    )
    session.add(recipient)
    session.flush()
    return recipient


def _compose(crm, session, campaign, contact, **kwargs):
    compose.freeze_links(session, campaign)
    recipient = _recipient(session, campaign, contact, **kwargs)
    links_by_url = compose.campaign_links(session, campaign.id)
    return recipient, compose.compose(crm, campaign, recipient, contact, links_by_url)


def _reparsed(message):
    return message_from_bytes(message.as_bytes(), policy=policy.default)


def test_freeze_links_records_static_http_links_once(session, campaign):
    compose.freeze_links(session, campaign)
    compose.freeze_links(session, campaign)  # idempotent
    rows = session.scalars(
        select(CampaignLink)
        .where(CampaignLink.campaign_id == campaign.id)
        .order_by(CampaignLink.position)
    ).all()
    assert [(r.position, r.url) for r in rows] == [
        (0, "https://shop.example/spring?a=1&b=2"),
        (1, "http://old.example/"),
    ]


def test_message_is_valid_mime_with_the_headers(crm, session, campaign, make_contact, make_company):
    company = make_company(name="Engines")
    contact = make_contact(
        first_name="Grace", last_name="Hopper", email="grace@example.com", company_id=company.id
    )
    recipient, message = _compose(crm, session, campaign, contact)
    check_headers(message)
    raw = message.as_bytes()
    assert b"=?utf-8?" in raw.split(b"\n\n", 1)[0]  # the non-ASCII name is encoded
    parsed = _reparsed(message)
    assert parsed.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain", "text/html"]
    assert parsed["Subject"] == "Spring for Grace"
    (sender,) = parsed["From"].addresses
    assert (sender.display_name, sender.addr_spec) == ("Ünïcode News Ltd", "news@example.com")
    (to,) = parsed["To"].addresses
    assert (to.display_name, to.addr_spec) == ("Grace Hopper", "grace@example.com")
    assert parsed["Reply-To"] == "help@example.com"
    assert parsed["Message-ID"] == "<r1@example.com>"
    assert parsed["Date"]
    unsubscribe = unsubscribe_of(crm, recipient)
    assert "/u/" in unsubscribe and "/m/u/" not in unsubscribe  # the core's, see below
    assert parsed["List-Unsubscribe"].strip() == f"<{unsubscribe}>"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert parsed["X-CRM-Campaign"] == str(campaign.id)
    assert unsubscribe.startswith(base_url(crm) + "/u/")
    token = unsubscribe.rsplit("/", 1)[1]
    link = consent.loads(crm, token)
    assert (link.contact_id, link.origin, link.ref) == (contact.id, "marketing", recipient.id)
    html = parsed.get_body(("html",)).get_content()
    assert html.startswith('<!DOCTYPE html>\n<html lang="en">') and "<h1>Hello Grace</h1>" in html


def test_message_is_in_the_contacts_language(crm, session, campaign, make_contact):
    contact = make_contact(email="lucia@example.com", locale="es")
    _recipient_row, message = _compose(crm, session, campaign, contact)
    html = _reparsed(message).get_body(("html",)).get_content()
    assert html.startswith('<!DOCTYPE html>\n<html lang="es">')


def test_http_links_become_click_addresses_and_the_rest_stay(crm, session, campaign, make_contact):
    contact = make_contact(first_name="Grace", email="grace@example.com")
    recipient, message = _compose(crm, session, campaign, contact)
    html = _reparsed(message).get_body(("html",)).get_content()
    ids = compose.campaign_links(session, campaign.id)
    shop = links.click_url(crm, recipient.id, ids["https://shop.example/spring?a=1&b=2"])
    old = links.click_url(crm, recipient.id, ids["http://old.example/"])
    assert html.count(f'href="{shop}"') == 2
    assert html.count(f'href="{old}"') == 1
    token = shop.rsplit("/", 1)[1]
    assert tokens.loads(crm, tokens.CLICK, token) == [
        recipient.id,
        ids["https://shop.example/spring?a=1&b=2"],
    ]
    assert "shop.example/spring" not in html and "old.example" not in html
    # mailto: and tel: are left alone, and so is a link made per contact (not trackable)
    assert 'href="mailto:help@example.com"' in html
    assert 'href="tel:+34910000000"' in html
    assert 'href="https://shop.example/u/grace@example.com"' in html
    assert "javascript" not in html and "alert" not in html


def test_open_pixel_and_unsubscribe_footer(crm, session, campaign, make_contact):
    contact = make_contact(email="grace@example.com")
    recipient, message = _compose(crm, session, campaign, contact)
    parsed = _reparsed(message)
    html = parsed.get_body(("html",)).get_content()
    pixel = links.open_url(crm, recipient.id)
    assert f'<img src="{pixel}" width="1" height="1"' in html
    assert tokens.loads(crm, tokens.OPEN, pixel.rsplit("/", 1)[1][: -len(".gif")]) == [recipient.id]
    unsubscribe = unsubscribe_of(crm, recipient)
    assert f'<a href="{unsubscribe}">Unsubscribe</a>' in html
    text = parsed.get_body(("plain",)).get_content()
    assert text.rstrip().endswith(f"Unsubscribe: {unsubscribe}")


def test_template_placed_unsubscribe_link_is_not_repeated(crm, session, records, make_contact):
    campaign = records.create(
        "campaigns",
        {
            "name": "Own link",
            "subject": "Hi",
            "body_html": '<p>Hi</p><p><a href="{{ unsubscribe_url }}">Leave the list</a></p>',
        },
    )
    contact = make_contact(email="grace@example.com")
    recipient, message = _compose(crm, session, campaign, contact)
    parsed = _reparsed(message)
    unsubscribe = unsubscribe_of(crm, recipient)
    html = parsed.get_body(("html",)).get_content()
    assert html.count(unsubscribe) == 1 and "Leave the list" in html
    text = parsed.get_body(("plain",)).get_content()
    assert text == f"Hi\n\nLeave the list ({unsubscribe})\n"
    # without a From of its own, the instance's sender is used
    assert parsed["From"] == crm.settings.mail_from


def test_plain_text_part_is_derived_with_original_addresses(crm, session, campaign, make_contact):
    contact = make_contact(first_name="Grace", email="grace@example.com")
    _recipient_row, message = _compose(crm, session, campaign, contact)
    text = _reparsed(message).get_body(("plain",)).get_content()
    assert text.startswith(
        "Hello Grace\n\nSee the shop (https://shop.example/spring?a=1&b=2), "
        "the old site (http://old.example/) and again the shop "
        "(https://shop.example/spring?a=1&b=2).\n\n"
        "Write to us (help@example.com) or call (tel:+34910000000); your page: "
        "yours (https://shop.example/u/grace@example.com); bad\n"
    )
    assert "/m/c/" not in text


def test_own_plain_text_is_used(crm, session, records, campaign, make_contact):
    records.update("campaigns", campaign, {"body_text": "Hi {{ contact.first_name }} & co"})
    contact = make_contact(first_name="<Grace>", email="grace@example.com")
    _recipient_row, message = _compose(crm, session, campaign, contact)
    text = _reparsed(message).get_body(("plain",)).get_content()
    assert text.startswith("Hi <Grace> & co\n\n--\n")


def test_contact_data_cannot_inject_headers(crm, session, campaign, make_contact):
    contact = make_contact(
        first_name="Eve\r\nBcc: victim@example.com", last_name="X", email="eve@example.com"
    )
    _recipient_row, message = _compose(crm, session, campaign, contact)
    check_headers(message)
    parsed = _reparsed(message)
    assert parsed["Subject"] == "Spring for Eve Bcc: victim@example.com"
    assert "Bcc" not in parsed and parsed["To"].addresses[0].addr_spec == "eve@example.com"
    headers = message.as_bytes().split(b"\n\n", 1)[0]
    assert b"Subject: Spring for Eve Bcc: victim@example.com\n" in headers
    assert b"\nBcc:" not in headers


def test_message_id_is_made_when_the_row_has_none(crm, session, campaign, make_contact):
    contact = make_contact(email="grace@example.com")
    recipient, message = _compose(crm, session, campaign, contact, message_id=None)
    assert recipient.message_id and recipient.message_id.startswith("<")
    assert message["Message-ID"] == recipient.message_id


def test_templates_are_compiled_once_per_campaign_version(crm, records, campaign):
    first = compose.compiled(crm, campaign)
    assert compose.compiled(crm, campaign) is first
    records.update("campaigns", campaign, {"subject": "New subject"})
    second = compose.compiled(crm, campaign)
    assert second is not first
    assert compose.render_parts(
        crm, second, compose.context_for(second, None, "https://x.example/u"),
        unsubscribe_url="https://x.example/u",
    ).subject == "New subject"  # fmt: skip


def test_failures_for_one_contact_are_compose_errors(crm, session, records, make_contact):
    campaign = records.create(
        "campaigns",
        {
            "name": "Divide",
            "subject": "x",
            "body_html": "{{ 10 // (contact.first_name|length - 4) }}",
        },
    )  # fine for the sample contact (Ada), not for a four-letter name
    contact = make_contact(first_name="Bobo", email="bobo@example.com")
    with pytest.raises(compose.ComposeError, match="ZeroDivisionError"):
        _compose(crm, session, campaign, contact)
    bad = make_contact(email=None)
    recipient = _recipient(session, campaign, bad, message_id="<r2@example.com>")
    recipient.email = "not an address"
    with pytest.raises(compose.ComposeError):
        compose.compose(crm, campaign, recipient, make_contact(email="ok@example.com"), {})
    # a recipient whose contact is gone never gets the sample contact's message
    recipient.email = "bobo@example.com"
    with pytest.raises(compose.ComposeError, match="contact no longer exists"):
        compose.compose(crm, campaign, recipient, None, {})


def test_composed_message_goes_through_a_real_smtp_server(
    crm, app, session, campaign, make_contact, smtp_peer
):
    contact = make_contact(first_name="Grace", email="grace@example.com")
    recipient, message = _compose(crm, session, campaign, contact)
    send(app, message)
    (envelope,) = smtp_peer.messages
    assert envelope["rcpt_tos"] == ["grace@example.com"]
    (received,) = smtp_peer.parsed()
    assert received["Message-ID"] == recipient.message_id
    assert received["List-Unsubscribe"].strip() == f"<{unsubscribe_of(crm, recipient)}>"
    assert received["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "Hello Grace" in received.get_body(("html",)).get_content()


def test_plain_text_is_a_template_when_it_converts_the_same(crm, records, campaign):
    assert compose.compiled(crm, campaign).derived_text is not None
    odd = records.create(
        "campaigns",
        {"name": "Odd", "subject": "x", "body_html": "<p>&#123;&#123; 1 &#125;&#125;</p>"},
    )
    assert compose.compiled(crm, odd).derived_text is None  # converted per message instead


@pytest.mark.parametrize(
    "body",
    [
        BODY,
        "<p>&#123;&#123; not a placeholder &#125;&#125; {{ contact.first_name }}</p>",
        '<table><tr><td {% if contact.city %}style="color:red"{% endif %}>'
        "{{ contact.city }}</td><td>{{ company.name }}</td></tr></table>",
        "<ul>{% for t in contact.tags %}<li>{{ t }}</li>{% endfor %}</ul>",
    ],
)
def test_both_ways_to_the_plain_text_agree(crm, session, records, make_contact, body):
    """The derived text template and the per-message conversion give the same text, for a
    contact unlike the sample one (markup-like data, other branches)."""
    campaign = records.create("campaigns", {"name": "C", "subject": "s", "body_html": body})
    contact = make_contact(
        first_name="<b>Zoë</b> & co", email="z@example.com", city="", tags=["a", "b & c"]
    )
    recipient, message = _compose(crm, session, campaign, contact)
    text = _reparsed(message).get_body(("plain",)).get_content()
    html = _reparsed(message).get_body(("html",)).get_content()
    ids = compose.campaign_links(session, campaign.id)
    originals = {links.click_url(crm, recipient.id, i): url for url, i in ids.items()}
    converted = htmlmail.to_text(html.split("<body>\n", 1)[1], originals)
    # the same, up to the unsubscribe footers (one written for text, one for HTML)
    body_text = text.split("\n--\n")[0]
    assert body_text.split() == converted.split("Don't want these e-mails?")[0].split()
    assert ("Zoë" in body_text) == ("first_name" in body)


def test_the_wire_form_has_crlf_line_ends(crm, session, campaign, make_contact):
    contact = make_contact(first_name="Grace", email="grace@example.com")
    _recipient_row, message = _compose(crm, session, campaign, contact)
    wire = message.as_bytes(policy=message.policy.clone(linesep="\r\n"))
    assert wire.count(b"\n") == wire.count(b"\r\n") > 50
    assert max(len(line) for line in wire.split(b"\r\n")) <= 78
    again = message_from_bytes(wire, policy=policy.default)
    assert (
        again["From"] == message["From"]
        and "Hello Grace" in again.get_body(("html",)).get_content()
    )
    # the shared headers were folded for both line ends without mixing them up
    assert b"\r\n" not in message.as_bytes()


def test_a_value_missing_for_one_contact_renders_empty(crm, session, records, make_contact):
    campaign = records.create(
        "campaigns",
        {"name": "Tags", "subject": "[{{ contact.tags[0] }}]", "body_html": "<p>x</p>"},
    )  # the sample contact has tags: saved
    _recipient_row, message = _compose(crm, session, campaign, make_contact(tags=[]))
    assert message["Subject"] == "[]"
    with pytest.raises(templating.RenderError, match="no element 0"):
        templating.render(
            "{{ contact.tags[0] }}",
            compose.context_for(
                compose.compiled(crm, campaign), make_contact(tags=[]), "https://x.example/u"
            ),
        )  # checking (saving) stays strict


def test_one_boundary_per_campaign_that_no_part_can_hold(crm, session, campaign, make_contact):
    """The multipart boundary is made once per compiled campaign: a contact whose name is the
    boundary line itself still gets a message of exactly its two parts, name intact."""
    first = make_contact(first_name="Ada", last_name="Byron", email="ada@example.com")
    _, message = _compose(crm, session, campaign, first)
    boundary = message.get_boundary()
    assert boundary and boundary.startswith("=_")
    sly = make_contact(first_name=f"--{boundary}--", last_name="X", email="sly@example.com")
    _, other = _compose(crm, session, campaign, sly, message_id="<r2@example.com>")
    assert other.get_boundary() == boundary
    parsed = _reparsed(other)
    text, html = list(parsed.iter_parts())
    assert (text.get_content_type(), html.get_content_type()) == ("text/plain", "text/html")
    assert f"Hello --{boundary}--" in text.get_content()
    assert parsed["Subject"] == f"Spring for --{boundary}--"
