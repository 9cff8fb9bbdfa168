"""Attacks on the sales endpoints: a line break in a quote's e-mail subject, quotes mailed to
strangers or by the hundred, and lead conversion revealing another rep's contact."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from crmcore.contacts.models import Company, Contact

pytestmark = pytest.mark.crm_plugins("sales")


@pytest.fixture
def rep(make_user):
    return make_user("sales_rep")


@pytest.fixture
def rep_quote(api_as, rep, make_contact):
    """A quote of ``rep`` for their own contact."""
    contact = make_contact(email="buyer@customer.example", owner_id=rep.id)
    response = api_as(rep).post("/api/v1/quotes", json={"lines": [], "contact_id": contact.id})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _status(api, quote):
    return api.get(f"/api/v1/quotes/{quote['id']}").get_json()["status"]


@pytest.mark.parametrize(
    "subject", ["Quote\r\nBcc: all@victims.example", "Quote\nX-Injected: 1", "Quote\n", "a\x00b"]
)
def test_a_line_break_in_the_subject_is_refused(api_as, rep, rep_quote, crm, subject):
    crm.jobs.huey.flush()
    r = api_as(rep).post(f"/api/v1/quotes/{rep_quote['id']}/send", json={"subject": subject})
    assert r.status_code == 422, r.get_json()
    assert r.headers["Content-Type"].startswith("application/problem+json")
    assert r.get_json()["errors"]["subject"] == ["The subject must be one line of text."]
    assert _status(api_as(rep), rep_quote) == "draft"  # not marked sent
    assert crm.jobs.huey.pending_count() == 0  # nothing queued


def test_quotes_go_only_to_contacts_the_sender_may_read(
    api_as, rep, rep_quote, make_user, make_contact, crm
):
    crm.jobs.huey.flush()
    other = make_user("sales_rep")
    make_contact(email="someone@else.example", owner_id=other.id)
    mine = make_contact(email="colleague@customer.example", owner_id=rep.id)
    url = f"/api/v1/quotes/{rep_quote['id']}/send"
    for stranger in ("anyone@stranger.example", "someone@else.example"):
        r = api_as(rep).post(url, json={"to": stranger, "message": "Buy crypto now"})
        assert r.status_code == 422, r.get_json()
        assert "another contact you may read" in r.get_json()["errors"]["to"][0]
    assert _status(api_as(rep), rep_quote) == "draft"
    assert crm.jobs.huey.pending_count() == 0
    r = api_as(rep).post(url, json={"to": "BUYER@customer.example"})
    assert r.status_code == 202 and r.get_json()["to"] == "buyer@customer.example"
    r = api_as(rep).post(url, json={"to": mine.email})
    assert r.status_code == 202 and r.get_json()["to"] == mine.email
    assert crm.jobs.huey.pending_count() == 2
    crm.jobs.huey.flush()


def test_quote_mail_is_rate_limited_per_user(api_as, rep, rep_quote, make_user, crm, monkeypatch):
    crm.jobs.huey.flush()
    monkeypatch.setitem(crm.settings.extra, "sales", {"quote_send_rate": "3 per hour"})
    url = f"/api/v1/quotes/{rep_quote['id']}/send"
    codes = [api_as(rep).post(url, json={}).status_code for _ in range(4)]
    assert codes == [202, 202, 202, 429]
    r = api_as(rep).post(url, json={})
    assert r.status_code == 429
    assert r.headers["Content-Type"].startswith("application/problem+json")
    assert "too many quotes" in r.get_json()["detail"]
    assert crm.jobs.huey.pending_count() == 3
    # the quota is the user's: another rep still sends
    other = make_user("sales_rep")
    quote = api_as(other).post("/api/v1/quotes", json={"lines": [], "contact_id": None})
    contact_id = (
        api_as(other)
        .post("/api/v1/contacts", json={"last_name": "Own", "email": "own@customer.example"})
        .get_json()["id"]
    )
    api_as(other).patch(
        f"/api/v1/quotes/{quote.get_json()['id']}",
        json={"contact_id": contact_id},
        headers={"If-Match": quote.headers["ETag"]},
    )
    r = api_as(other).post(f"/api/v1/quotes/{quote.get_json()['id']}/send", json={})
    assert r.status_code == 202, r.get_json()
    crm.jobs.huey.flush()


def test_lead_conversion_does_not_reveal_another_reps_contact(api_as, make_user, records, session):
    rep, other = make_user("sales_rep"), make_user("sales_rep")
    theirs = records.create(
        "contacts", {"last_name": "Hidden", "email": "ada@engines.example", "owner_id": other.id}
    )
    their_company = records.create(
        "companies", {"name": "Engines", "domain": "engines.example", "owner_id": other.id}
    )
    lead = (
        api_as(rep)
        .post(
            "/api/v1/leads",
            json={"last_name": "Lovelace", "email": "ADA@engines.example", "company_name": "Eng"},
        )
        .get_json()
    )
    r = api_as(rep).post(f"/api/v1/leads/{lead['id']}/convert", json={"create_deal": True})
    assert r.status_code == 200, r.get_json()
    ids = r.get_json()
    assert ids["contact_id"] != theirs.id and ids["company_id"] != their_company.id
    # what the rep got is theirs to read; the other rep's records are untouched
    assert api_as(rep).get(f"/api/v1/contacts/{ids['contact_id']}").status_code == 200
    assert api_as(rep).get(f"/api/v1/companies/{ids['company_id']}").status_code == 200
    assert api_as(rep).get(f"/api/v1/contacts/{theirs.id}").status_code == 404
    converted = api_as(rep).get(f"/api/v1/leads/{lead['id']}").get_json()
    assert (converted["contact_id"], converted["company_id"]) == (
        ids["contact_id"],
        ids["company_id"],
    )
    same = func.lower(Contact.email) == "ada@engines.example"
    assert session.scalar(select(func.count()).select_from(Contact).where(same)) == 2
    assert session.scalar(select(func.count()).where(Company.domain == "engines.example")) == 2


def test_lead_conversion_reuses_a_contact_the_user_may_read(api_as, make_user, records):
    rep = make_user("sales_rep")
    own = records.create(
        "contacts", {"last_name": "Mine", "email": "grace@navy.example", "owner_id": rep.id}
    )
    lead = (
        api_as(rep)
        .post("/api/v1/leads", json={"last_name": "Hopper", "email": "grace@navy.example"})
        .get_json()
    )
    ids = api_as(rep).post(f"/api/v1/leads/{lead['id']}/convert", json={}).get_json()
    assert ids["contact_id"] == own.id
