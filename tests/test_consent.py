"""The core's unsubscribe page ``/u/<token>``: GET asks, POST opts out (the button or RFC 8058
one-click, without cookies or CSRF token); forged, altered and foreign tokens change nothing and
get one neutral page. No plugin is needed (tests/test_hooks.py covers the hook)."""

from __future__ import annotations

import secrets

import pytest
from itsdangerous import URLSafeSerializer
from sqlalchemy import update

from crmcore import consent
from crmcore.contacts.models import Contact


def fresh(session, contact):
    session.expire_all()
    return session.get(Contact, contact.id)


@pytest.fixture
def ana(make_contact):
    return make_contact(first_name="Ana", email="ana.ruiz@example.net")


def url(crm, contact, label="newsletter:3"):
    return f"/u/{consent.dumps(crm, contact.id, 'mailer', 3, label)}"


def test_get_asks_and_changes_nothing(crm, client, session, ana):
    r = client.get(url(crm, ana))
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and '<form method="post"' in html
    assert "a•••@example.net" in html and "ana.ruiz" not in html
    assert r.headers["Cache-Control"] == "no-store"
    assert "noindex" in r.headers["X-Robots-Tag"]
    assert fresh(session, ana).email_opt_out is False


def test_post_opts_out_every_contact_with_the_address(crm, client, session, make_contact, ana):
    twin = make_contact(first_name="Ana", email="ana.ruiz@example.net")
    other = make_contact(first_name="Eva", email="eva@example.net")
    # in any case: an address stored in capitals (before addresses were lower-cased)
    session.execute(
        update(Contact).where(Contact.id == twin.id).values(email="Ana.Ruiz@EXAMPLE.net")
    )
    session.commit()
    r = client.post(url(crm, ana))
    assert r.status_code == 200
    for each in (ana, twin):
        row = fresh(session, each)
        assert row.email_opt_out is True and row.email_opt_out_at is not None
        assert row.email_opt_out_source == "unsubscribe:newsletter:3"
    assert fresh(session, other).email_opt_out is False


def test_one_click_without_cookies_and_an_earlier_opt_out_kept(
    app, crm, session, records, make_contact, ana
):
    earlier = make_contact(first_name="Ana", email="ana.ruiz@example.net")
    records.update("contacts", earlier, {"email_opt_out": True, "email_opt_out_source": "manual"})
    cookieless = app.test_client(use_cookies=False)
    r = cookieless.post(url(crm, ana), data={"List-Unsubscribe": "One-Click"})
    assert r.status_code == 200
    assert fresh(session, ana).email_opt_out_source == "one-click:newsletter:3"
    assert fresh(session, earlier).email_opt_out_source == "manual"
    again = cookieless.get(url(crm, ana)).get_data(as_text=True)
    assert "already unsubscribed" in again


def test_the_page_is_audited_through_the_record_service(crm, client, session, ana):
    from sqlalchemy import select

    from crmcore.audit import AuditEntry

    client.post(url(crm, ana))
    rows = session.scalars(select(AuditEntry).where(AuditEntry.record_id == ana.id)).all()
    assert any("email_opt_out" in (row.changes or {}) for row in rows)


def forgeries(crm, ana):
    good = consent.dumps(crm, ana.id, "mailer", 3)
    payload, _dot, signature = good.rpartition(".")
    other = URLSafeSerializer("another secret", salt=consent.PURPOSE)
    plain = URLSafeSerializer(crm.settings.secret_key, salt=consent.PURPOSE)
    return {
        "random": secrets.token_urlsafe(30),
        "cut": good[:-4],
        "other secret": other.dumps([ana.id, "mailer", 3, "x"]),
        "other purpose": URLSafeSerializer(crm.settings.secret_key, salt="x").dumps([ana.id]),
        "wrong shape": plain.dumps({"id": ana.id}),
        "string id": plain.dumps([str(ana.id), "mailer", 3, "x"]),
        "bool id": plain.dumps([True, "mailer", 3, "x"]),
        "no such contact": plain.dumps([2_000_000_000, "mailer", 3, "x"]),
        "long label": plain.dumps([ana.id, "mailer", 3, "x" * 500]),
        "swapped signature": payload[:-1] + "A." + signature,
        "huge": "A" * 5000,
    }


def test_forged_tokens_change_nothing_and_look_alike(crm, client, session, ana):
    reference = client.get(f"/u/{secrets.token_urlsafe(20)}").get_data(as_text=True)
    for name, token in forgeries(crm, ana).items():
        for method in ("get", "post"):
            r = getattr(client, method)(f"/u/{token}", data={"List-Unsubscribe": "One-Click"})
            assert r.status_code == 404, name
            assert r.get_data(as_text=True) == reference, name
    assert fresh(session, ana).email_opt_out is False


def test_in_the_contacts_language_or_the_chosen_one(crm, client, make_contact):
    lucia = make_contact(first_name="Lucía", email="lucia@example.net", locale="es")
    html = client.get(url(crm, lucia)).get_data(as_text=True)
    assert '<html lang="es">' in html and "Darme de baja" in html
    html = client.get(url(crm, lucia) + "?lang=en").get_data(as_text=True)
    assert '<html lang="en">' in html and "Unsubscribe" in html
    done = client.post(url(crm, lucia)).get_data(as_text=True)
    assert '<html lang="es">' in done


def test_a_trashed_contact_is_opted_out_too(crm, client, session, records, ana):
    records.delete("contacts", ana)
    assert client.post(url(crm, ana)).status_code == 200
    assert fresh(session, ana).email_opt_out is True
