"""The unsubscribe link: GET asks, POST opts out (the button or RFC 8058 one-click); forged,
altered and other-purpose tokens change nothing and answer like a random token."""

from __future__ import annotations

import secrets

import pytest
from crm_marketing import tokens
from sqlalchemy import update
from tracking_kit import events, make_campaign, make_link, make_recipient

from crmcore.contacts.models import Contact


@pytest.fixture
def sent(records, session, make_contact):
    """A campaign and one recipient whose message was sent."""
    campaign = make_campaign(records)
    contact = make_contact(first_name="Ana", email="ana.ruiz@example.net")
    recipient = make_recipient(session, campaign, contact)
    return campaign, contact, recipient


def url(crm, recipient_id, purpose=tokens.UNSUBSCRIBE):
    return f"/m/u/{tokens.dumps(crm, purpose, [recipient_id])}"


def fresh(session, record):
    session.expire_all()
    return session.get(type(record), record.id)


def test_get_shows_a_confirmation_and_changes_nothing(crm, client, session, sent):
    _campaign, contact, recipient = sent
    page = client.get(url(crm, recipient.id))
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert '<form method="post"' in html
    assert f'action="{url(crm, recipient.id)}' in html
    assert "a•••@example.net" in html  # the address, masked
    assert "ana.ruiz@example.net" not in html
    assert page.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in page.headers  # nothing of a session: no cookie to need
    assert fresh(session, contact).email_opt_out is False
    assert fresh(session, recipient).unsubscribed_at is None
    assert events(session) == []


def test_post_opts_out_with_time_and_source(crm, client, session, sent):
    campaign, contact, recipient = sent
    done = client.post(url(crm, recipient.id))
    assert done.status_code == 200
    assert "You are unsubscribed" in done.get_data(as_text=True)
    contact = fresh(session, contact)
    assert contact.email_opt_out is True
    assert contact.email_opt_out_at is not None
    assert contact.email_opt_out_source == f"unsubscribe:campaign:{campaign.id}"
    recipient = fresh(session, recipient)
    assert recipient.unsubscribed_at is not None
    [event] = events(session, "unsubscribe")
    assert (event.campaign_id, event.recipient_id, event.detail) == (
        campaign.id,
        recipient.id,
        "unsubscribe",
    )


def test_post_is_idempotent(crm, client, session, sent):
    _campaign, contact, recipient = sent
    client.post(url(crm, recipient.id))
    first = fresh(session, contact).email_opt_out_at
    first_recipient = fresh(session, recipient).unsubscribed_at
    again = client.post(url(crm, recipient.id))
    assert again.status_code == 200
    assert fresh(session, contact).email_opt_out_at == first
    assert fresh(session, recipient).unsubscribed_at == first_recipient
    assert len(events(session, "unsubscribe")) == 1
    # and the page says so when visited later
    page = client.get(url(crm, recipient.id)).get_data(as_text=True)
    assert "already unsubscribed" in page


def test_rfc8058_one_click_without_cookies(app, crm, session, sent):
    campaign, contact, recipient = sent
    mail_client = app.test_client(use_cookies=False)
    r = mail_client.post(
        url(crm, recipient.id),
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert r.status_code == 200
    contact = fresh(session, contact)
    assert contact.email_opt_out is True
    assert contact.email_opt_out_source == f"one-click:campaign:{campaign.id}"
    assert events(session, "unsubscribe")[0].detail == "one-click"


def test_one_click_as_multipart_too(app, crm, session, sent):
    _campaign, contact, recipient = sent
    r = app.test_client(use_cookies=False).post(
        url(crm, recipient.id),
        data={"List-Unsubscribe": "One-Click"},
        content_type="multipart/form-data",
    )
    assert r.status_code == 200
    assert fresh(session, contact).email_opt_out is True


def test_other_public_forms_still_need_csrf(client):
    """The exemption is for the unsubscribe link only (shows the CSRF check is on)."""
    r = client.post("/m/subscribe", data={"email": "someone@example.org"})
    assert r.status_code == 400


def test_every_contact_with_the_address_is_opted_out(crm, client, session, records, sent):
    _campaign, contact, recipient = sent
    twin = records.create("contacts", {"last_name": "Ruiz", "email": "ana.ruiz@example.net"})
    other = records.create("contacts", {"last_name": "Other", "email": "other@example.net"})
    # an address stored in capitals (before addresses were lower-cased, or by another tool)
    session.execute(
        update(Contact).where(Contact.id == twin.id).values(email="ANA.Ruiz@Example.NET")
    )
    session.commit()
    client.post(url(crm, recipient.id))
    assert fresh(session, contact).email_opt_out is True
    assert fresh(session, other).email_opt_out is False
    assert fresh(session, twin).email_opt_out is True  # in any case (lower(email)'s index)


def test_an_earlier_opt_out_keeps_its_time_and_source(crm, client, session, records, sent):
    _campaign, contact, recipient = sent
    records.update("contacts", contact, {"email_opt_out": True})
    before = fresh(session, contact)
    at, source = before.email_opt_out_at, before.email_opt_out_source
    assert source == "manual"
    client.post(url(crm, recipient.id))
    after = fresh(session, contact)
    assert (after.email_opt_out_at, after.email_opt_out_source) == (at, source)
    assert fresh(session, recipient).unsubscribed_at is not None


def test_the_opt_out_goes_through_the_record_service(crm, client, session, sent):
    """The audit trail shows the change (so every write path is the one write path)."""
    from crmcore.audit import AuditEntry

    _campaign, contact, recipient = sent
    client.post(url(crm, recipient.id))
    session.expire_all()
    rows = session.query(AuditEntry).filter_by(entity="contact", record_id=contact.id).all()
    assert any("email_opt_out" in (row.changes or {}) for row in rows)


ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _same_bytes_other_spelling(good):
    """The token with another last character that decodes to the same signature bytes."""
    from itsdangerous.encoding import base64_decode

    body, _dot, signature = good.rpartition(".")
    for c in ALPHABET:
        candidate = signature[:-1] + c
        if candidate != signature and base64_decode(candidate) == base64_decode(signature):
            return f"{body}.{candidate}"
    raise AssertionError("no other spelling")


def test_another_spelling_of_a_genuine_token_is_refused(crm, client, session, sent):
    """base64 leaves unused bits in the last character: itsdangerous alone would accept the
    variant; tokens.loads (and so the page) does not, so an altered token never works."""
    from itsdangerous import URLSafeSerializer

    _campaign, contact, recipient = sent
    good = tokens.dumps(crm, tokens.UNSUBSCRIBE, [recipient.id])
    variant = _same_bytes_other_spelling(good)
    plain = URLSafeSerializer(crm.settings.secret_key, salt=tokens.UNSUBSCRIBE)
    assert plain.loads(variant) == [recipient.id]  # the gap this guards against
    assert tokens.loads(crm, tokens.UNSUBSCRIBE, variant) is None
    assert tokens.loads(crm, tokens.UNSUBSCRIBE, good) == [recipient.id]
    assert client.post(f"/m/u/{variant}").status_code == 404
    assert fresh(session, contact).email_opt_out is False


def _forgeries(crm, recipient, other):
    good = tokens.dumps(crm, tokens.UNSUBSCRIBE, [recipient.id])
    body, _dot, signature = good.rpartition(".")
    middle = signature[:5] + ("A" if signature[5] != "A" else "B") + signature[6:]
    last = _same_bytes_other_spelling(good)
    return {
        "random": secrets.token_urlsafe(24),
        "altered signature": f"{body}.{middle}",
        "altered padding bits": last,
        "altered payload": ("W" if body[0] != "W" else "X") + body[1:] + "." + signature,
        "other recipient's payload, this signature": (
            tokens.dumps(crm, tokens.UNSUBSCRIBE, [other.id]).rpartition(".")[0] + "." + signature
        ),
        "open token": tokens.dumps(crm, tokens.OPEN, [recipient.id]),
        "click token": tokens.dumps(crm, tokens.CLICK, [recipient.id, 1]),
        "subscribe token": tokens.dumps_timed(crm, tokens.SUBSCRIBE, [recipient.id]),
        "other secret": tokens.dumps(
            type("C", (), {"settings": type("S", (), {"secret_key": "x" * 32})()})(),
            tokens.UNSUBSCRIBE,
            [recipient.id],
        ),
        "no such recipient": tokens.dumps(crm, tokens.UNSUBSCRIBE, [2_000_000_000]),
        "wrong shape": tokens.dumps(crm, tokens.UNSUBSCRIBE, {"id": recipient.id}),
        "string id": tokens.dumps(crm, tokens.UNSUBSCRIBE, [str(recipient.id)]),
        "huge": "a" * 5000,
    }


def test_forged_tokens_do_nothing_and_look_like_a_random_one(
    crm, client, session, records, make_contact, sent
):
    campaign, contact, recipient = sent
    other = make_recipient(session, campaign, make_contact())
    forgeries = _forgeries(crm, recipient, other)
    reference = client.get(f"/m/u/{forgeries['random']}")
    assert reference.status_code == 404
    for name, token in forgeries.items():
        for method in ("get", "post"):
            r = getattr(client, method)(f"/m/u/{token}")
            assert r.status_code == 404, (name, method)
            assert r.get_data() == reference.get_data(), (name, method)
            assert "Location" not in r.headers
        r = client.post(f"/m/u/{token}", data={"List-Unsubscribe": "One-Click"})
        assert r.status_code == 404, name
    assert fresh(session, contact).email_opt_out is False
    assert fresh(session, recipient).unsubscribed_at is None
    assert events(session) == []
    # the same page for a genuine token does change things (the check above can fail)
    assert client.post(url(crm, recipient.id)).status_code == 200
    assert fresh(session, contact).email_opt_out is True


def test_the_neutral_page_names_nobody(crm, client, sent):
    _campaign, contact, _recipient = sent
    html = client.get(f"/m/u/{secrets.token_urlsafe(20)}").get_data(as_text=True)
    assert "This link is not valid" in html
    assert contact.email not in html and "Ana" not in html


def test_open_and_click_links_are_not_unsubscribe_links(crm, client, session, sent):
    campaign, contact, recipient = sent
    link = make_link(session, campaign, "https://shop.example.com/sale")
    click = tokens.dumps(crm, tokens.CLICK, [recipient.id, link.id])
    opened = tokens.dumps(crm, tokens.OPEN, [recipient.id])
    for token in (click, opened):
        assert client.post(f"/m/u/{token}").status_code == 404
    assert fresh(session, contact).email_opt_out is False


@pytest.mark.parametrize(
    ("headers", "query", "lang"),
    [({"Accept-Language": "es-ES,es;q=0.9"}, "", "es"), ({}, "?lang=es", "es"), ({}, "", "en")],
)
def test_pages_in_the_visitors_language(crm, client, sent, headers, query, lang):
    _campaign, _contact, recipient = sent
    page = client.get(url(crm, recipient.id) + query, headers=headers).get_data(as_text=True)
    assert f'<html lang="{lang}">' in page
    assert "Vary" in client.get(url(crm, recipient.id)).headers


def test_pages_in_the_contacts_language(crm, client, records, sent):
    _campaign, contact, recipient = sent
    records.update("contacts", contact, {"locale": "es"})
    english_browser = {"Accept-Language": "en"}
    page = client.get(url(crm, recipient.id), headers=english_browser).get_data(as_text=True)
    assert '<html lang="es">' in page
    page = client.get(url(crm, recipient.id) + "?lang=en").get_data(as_text=True)
    assert '<html lang="en">' in page  # the visitor's explicit choice wins
    done = client.post(url(crm, recipient.id), headers=english_browser).get_data(as_text=True)
    assert '<html lang="es">' in done


def test_other_routes_hidden_when_the_plugin_is_disabled(crm, client, sent):
    from crmcore.instance import disable_plugin

    _campaign, _contact, recipient = sent
    assert client.get(url(crm, recipient.id)).status_code == 200
    disable_plugin(crm, "marketing")
    crm.forget_enabled()
    # the unsubscribe link of mail already sent keeps working (test_consent_when_disabled.py)
    assert client.get(url(crm, recipient.id)).status_code == 200
    assert client.get("/m/subscribe").status_code == 404


def test_a_trashed_contact_is_opted_out_too(crm, client, session, records, sent):
    _campaign, contact, recipient = sent
    records.delete("contacts", contact)
    assert client.post(url(crm, recipient.id)).status_code == 200
    session.expire_all()
    assert session.get(Contact, contact.id).email_opt_out is True
