"""Double opt-in: the public form mails a timed link; only the confirmation records consent."""

from __future__ import annotations

import re
import time
from urllib.parse import urlsplit

import pytest
from crm_marketing import subscribe, tokens
from crm_marketing.models import Bounce, SegmentMember
from sqlalchemy import func, select
from tracking_kit import Outbox, csrf_of, make_campaign, make_recipient

from crmcore.contacts.models import Contact
from crmcore.db import utcnow
from crmcore.settings import base_url

LINK = re.compile(r"(https?://\S+/m/confirm/\S+)")


def contacts_with(session, email):
    session.expire_all()
    return list(session.scalars(select(Contact).where(func.lower(Contact.email) == email.lower())))


def post_form(client, data, path="/m/subscribe"):
    page = client.get(path)
    assert page.status_code == 200, page.get_data(as_text=True)
    return client.post(path, data={"csrf_token": csrf_of(page.get_data(as_text=True)), **data})


def confirmation_link(message):
    found = LINK.search(message.get_body(("plain",)).get_content())
    assert found, "no confirmation link in the mail"
    return found.group(1)


def path_of(link):
    parts = urlsplit(link)
    return parts.path


def test_double_opt_in_end_to_end_over_smtp(crm, client, session, smtp_peer):
    address = "lucia.gomez@example.org"
    r = post_form(client, {"email": address, "first_name": "Lucía", "last_name": "Gómez"})
    assert r.status_code == 200
    assert "Check your inbox" in r.get_data(as_text=True)
    assert contacts_with(session, address) == []  # nothing stored before the confirmation
    [mail] = smtp_peer.parsed()
    assert mail["To"] == address
    assert "Confirm your subscription" in mail["Subject"]
    link = confirmation_link(mail)
    assert link.startswith(base_url(crm) + "/m/confirm/")
    done = client.get(path_of(link))
    assert done.status_code == 200
    assert "Subscription confirmed" in done.get_data(as_text=True)
    [contact] = contacts_with(session, address)
    assert (contact.first_name, contact.last_name) == ("Lucía", "Gómez")
    assert contact.consent_source == "subscribe-form"
    assert contact.source == "subscribe-form"
    assert contact.consent_at is not None and (utcnow() - contact.consent_at).total_seconds() < 60
    assert contact.email_opt_out is False
    assert contact.tags == ["newsletter"]
    # confirming again records nothing new
    again = client.get(path_of(link))
    assert "already confirmed" in again.get_data(as_text=True)
    assert contacts_with(session, address)[0].consent_at == contact.consent_at


def test_double_opt_in_through_the_file_outbox(crm, client, session):
    address = "outbox.reader@example.org"
    post_form(client, {"email": address})
    outbox = Outbox(crm.settings.instance_path / "outbox")
    [mail] = outbox.to(address)
    assert client.get(path_of(confirmation_link(mail))).status_code == 200
    assert contacts_with(session, address)[0].consent_source == "subscribe-form"


def test_the_answer_is_the_same_for_known_and_unknown_addresses(client, make_contact, smtp_peer):
    known = make_contact(email="known@example.org")
    answers = [
        post_form(client, {"email": address}).get_data(as_text=True)
        for address in (known.email, "unknown@example.org")
    ]
    assert answers[0] == answers[1]
    assert sorted(m["To"] for m in smtp_peer.parsed()) == [
        "known@example.org",
        "unknown@example.org",
    ]


def test_confirmation_clears_an_earlier_opt_out(
    crm, app, client, session, records, make_contact, smtp_peer
):
    campaign = make_campaign(records)
    contact = make_contact(first_name="Old", email="was.out@example.org")
    recipient = make_recipient(session, campaign, contact)
    # unsubscribed from a campaign
    unsub = f"/m/u/{tokens.dumps(crm, tokens.UNSUBSCRIBE, [recipient.id])}"
    app.test_client().post(unsub)
    assert contacts_with(session, contact.email)[0].email_opt_out is True
    time.sleep(0.01)
    post_form(client, {"email": contact.email, "first_name": "New"})
    client.get(path_of(confirmation_link(smtp_peer.parsed()[0])))
    [after] = contacts_with(session, contact.email)
    assert after.email_opt_out is False
    assert after.email_opt_out_at is None
    assert after.consent_source == "subscribe-form"
    assert after.first_name == "Old"  # a name on file is not replaced from a public form


def test_an_opt_out_after_asking_makes_the_link_stale(
    crm, app, client, session, records, make_contact, smtp_peer
):
    contact = make_contact(email="changed.mind@example.org")
    post_form(client, {"email": contact.email})
    link = confirmation_link(smtp_peer.parsed()[0])
    time.sleep(0.01)
    records.update("contacts", contact, {"email_opt_out": True})
    r = client.get(path_of(link))
    assert r.status_code == 409
    [after] = contacts_with(session, contact.email)
    assert after.email_opt_out is True and after.consent_at is None


def test_a_static_list_from_a_signed_link(crm, client, session, records, smtp_peer):
    segment = records.create("segments", {"name": "Spring fair", "kind": "static"})
    path = f"/m/subscribe?list={subscribe.list_token(crm, segment.id)}"
    page = client.get(path)
    assert "Spring fair" in page.get_data(as_text=True)
    r = client.post(
        "/m/subscribe",
        data={
            "csrf_token": csrf_of(page.get_data(as_text=True)),
            "list": subscribe.list_token(crm, segment.id),
            "email": "fair.visitor@example.org",
        },
    )
    assert r.status_code == 200
    assert session.scalars(select(SegmentMember)).all() == []
    client.get(path_of(confirmation_link(smtp_peer.parsed()[0])))
    [contact] = contacts_with(session, "fair.visitor@example.org")
    assert contact.tags == []  # joined the list, not the newsletter
    assert contact.consent_source == "subscribe-form"
    [member] = session.scalars(select(SegmentMember)).all()
    assert (member.segment_id, member.contact_id, member.source) == (
        segment.id,
        contact.id,
        "subscribe-form",
    )


def test_list_tokens_cannot_be_forged_or_point_at_dynamic_segments(crm, client, records):
    dynamic = records.create("segments", {"name": "Spain", "query": "country=ES"})
    static = records.create("segments", {"name": "List", "kind": "static"})
    for token in (
        tokens.dumps(crm, subscribe.LIST, [dynamic.id]),
        tokens.dumps(crm, tokens.OPEN, [static.id]),
        "forged",
        str(static.id),
    ):
        r = client.get(f"/m/subscribe?list={token}")
        assert r.status_code == 404, token
        assert "List" not in r.get_data(as_text=True)
    assert (
        client.get(f"/m/subscribe?list={subscribe.list_token(crm, static.id)}").status_code == 200
    )


def test_honeypot_is_answered_like_a_success_and_sends_nothing(client, session, smtp_peer):
    r = post_form(client, {"email": "bot@example.org", "website": "http://spam.example"})
    assert r.status_code == 200
    assert "Check your inbox" in r.get_data(as_text=True)
    assert smtp_peer.messages == []
    # a person's post (the same form without the field) does send (the check can fail)
    post_form(client, {"email": "person@example.org"})
    assert len(smtp_peer.messages) == 1


def test_rate_limit_per_client_address(client, monkeypatch, crm, smtp_peer):
    monkeypatch.setitem(crm.settings.extra, "marketing", {"subscribe_rate": "3 per hour"})
    page = client.get("/m/subscribe").get_data(as_text=True)
    token = csrf_of(page)
    codes = [
        client.post(
            "/m/subscribe", data={"csrf_token": token, "email": f"n{i}@example.org"}
        ).status_code
        for i in range(5)
    ]
    assert codes == [200, 200, 200, 429, 429]
    assert len(smtp_peer.messages) == 3
    other = client.post(
        "/m/subscribe",
        data={"csrf_token": token, "email": "x@example.org"},
        environ_base={"REMOTE_ADDR": "192.0.2.9"},
    )
    assert other.status_code == 200


def test_confirmation_mails_per_address_are_limited(client, smtp_peer):
    answers = {post_form(client, {"email": "victim@example.org"}).status_code for _ in range(5)}
    assert answers == {200}  # the same answer every time
    assert len(smtp_peer.messages) == 3  # ADDRESS_RATE: 3 per hour


def test_invalid_address_is_shown_and_nothing_sent(client, smtp_peer):
    r = post_form(client, {"email": "not an address"})
    assert r.status_code == 422
    assert "Enter a valid e-mail address." in r.get_data(as_text=True)
    assert smtp_peer.messages == []


def test_the_form_needs_its_csrf_token(client, smtp_peer):
    r = client.post("/m/subscribe", data={"email": "someone@example.org"})
    assert r.status_code == 400
    assert smtp_peer.messages == []


def test_expired_confirmation_changes_nothing(crm, client, session, monkeypatch):
    from itsdangerous.timed import TimestampSigner

    past = int(time.time()) - (tokens.SUBSCRIBE_DAYS * 86400 + 60)
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: past)
    with crm.app.test_request_context():
        form = subscribe.SubscribeForm(email="late@example.org")
        token = subscribe.confirmation_token(crm, form, None)
    monkeypatch.undo()
    r = client.get(f"/m/confirm/{token}")
    assert r.status_code == 404
    assert "not valid or has expired" in r.get_data(as_text=True)
    assert contacts_with(session, "late@example.org") == []
    # a fresh token for the same request works (the check can fail)
    with crm.app.test_request_context():
        fresh = subscribe.confirmation_token(crm, form, None)
    assert client.get(f"/m/confirm/{fresh}").status_code == 200
    assert len(contacts_with(session, "late@example.org")) == 1


@pytest.mark.parametrize(
    "token",
    [
        "forged",
        "x" * 2000,
        "eyJlIjoiYUBiLmMifQ.aaaaaa.bbbbbbbbbbbbbbbbbbbbbbbbbbb",
    ],
)
def test_forged_confirmations_change_nothing(client, session, token):
    before = session.scalar(select(func.count()).select_from(Contact))
    r = client.get(f"/m/confirm/{token}")
    assert r.status_code == 404
    assert session.scalar(select(func.count()).select_from(Contact)) == before


def test_other_purpose_tokens_do_not_confirm(crm, client, session):
    payload = {"e": "sneaky@example.org", "f": "", "l": "", "s": None, "t": int(time.time() * 1000)}
    for purpose in (tokens.UNSUBSCRIBE, tokens.OPEN, subscribe.LIST):
        token = tokens.dumps_timed(crm, purpose, payload)
        assert client.get(f"/m/confirm/{token}").status_code == 404
    assert contacts_with(session, "sneaky@example.org") == []
    genuine = tokens.dumps_timed(crm, tokens.SUBSCRIBE, payload)
    assert client.get(f"/m/confirm/{genuine}").status_code == 200


def test_a_confirmed_address_clears_its_bounce(crm, client, session):
    session.add(Bounce(email="back@example.org", kind="hard", count=1, active=True))
    session.commit()
    payload = {"e": "back@example.org", "f": "", "l": "", "s": None, "t": int(time.time() * 1000)}
    client.get(f"/m/confirm/{tokens.dumps_timed(crm, tokens.SUBSCRIBE, payload)}")
    session.expire_all()
    assert session.scalar(select(Bounce.active).where(Bounce.email == "back@example.org")) is False


def test_long_names_still_fit_in_the_link(crm, client, session):
    with crm.app.test_request_context():
        form = subscribe.SubscribeForm(
            email="long@example.org", first_name="Ж" * 100, last_name="中" * 100
        )
        token = subscribe.confirmation_token(crm, form, None)
    assert len(token) <= subscribe.TOKEN_MAX
    assert client.get(f"/m/confirm/{token}").status_code == 200
    [contact] = contacts_with(session, "long@example.org")
    assert contact.first_name.startswith("Ж")


def test_spanish_form_mail_and_contact(client, session, smtp_peer, make_contact):
    page = client.get("/m/subscribe", headers={"Accept-Language": "es"})
    assert '<html lang="es">' in page.get_data(as_text=True)
    r = client.post(
        "/m/subscribe?lang=es",
        data={"csrf_token": csrf_of(page.get_data(as_text=True)), "email": "es@example.org"},
    )
    assert '<html lang="es">' in r.get_data(as_text=True)
    [mail] = smtp_peer.parsed()
    # the confirmation opens in the form's language, whatever the browser says then
    done = client.get(path_of(confirmation_link(mail)), headers={"Accept-Language": "en"})
    assert '<html lang="es">' in done.get_data(as_text=True)
    assert contacts_with(session, "es@example.org")[0].locale == "es"
    # a contact's own language is kept
    known = make_contact(email="en@example.org", locale="en")
    post_form(client, {"email": known.email}, path="/m/subscribe?lang=es")
    client.get(path_of(confirmation_link(smtp_peer.parsed()[-1])))
    assert contacts_with(session, known.email)[0].locale == "en"


def test_subscribe_url_api(crm, api, api_as, make_user, records):
    newsletter = api.get("/api/v1/marketing/subscribe-url")
    assert newsletter.status_code == 200
    assert newsletter.get_json()["url"] == base_url(crm) + "/m/subscribe"
    static = records.create("segments", {"name": "Fair list", "kind": "static"})
    r = api.get(f"/api/v1/marketing/subscribe-url?segment_id={static.id}")
    assert r.status_code == 200
    url = r.get_json()["url"]
    token = url.partition("?list=")[2]
    assert subscribe.list_segment(crm, token).id == static.id
    dynamic = records.create("segments", {"name": "Dyn", "query": "country=ES"})
    assert api.get(f"/api/v1/marketing/subscribe-url?segment_id={dynamic.id}").status_code == 422
    assert api.get("/api/v1/marketing/subscribe-url?segment_id=999999").status_code == 422
    reader = make_user("read_only")
    r = api_as(reader).get(f"/api/v1/marketing/subscribe-url?segment_id={static.id}")
    assert r.status_code == 403


def test_a_refused_contact_changes_nothing_and_says_so(crm, client, session, records):
    """An instance that requires a custom field on contacts: the form cannot create one."""
    records.create(
        "custom_fields",
        {
            "entity": "contacts",
            "name": "region_code",
            "label": "Region",
            "type": "text",
            "required": True,
        },
    )
    payload = {
        "e": "refused@example.org",
        "f": "",
        "l": "",
        "s": None,
        "t": int(time.time() * 1000),
    }
    r = client.get(f"/m/confirm/{tokens.dumps_timed(crm, tokens.SUBSCRIBE, payload)}")
    assert r.status_code == 422
    assert "could not be recorded" in r.get_data(as_text=True)
    assert contacts_with(session, "refused@example.org") == []
