"""Sending campaigns in the test process: the API, the outbox, the send job, tick, the CLI.

Real parts throughout: an aiosmtpd server receives the messages (counting them per envelope
recipient), the jobs run through Huey (immediate mode, or called as the worker would), the
database is the test database. A worker killed mid-send is in ``test_sending_worker.py``.
"""

from __future__ import annotations

import collections
import datetime as dt
import time
from email import message_from_bytes, policy

import pytest
from crm_marketing import outbox, sending
from crm_marketing.models import Bounce, Campaign, CampaignEvent, Recipient
from sending_kit import (
    fresh,
    make_campaign,
    make_segment,
    marketing_settings,
    peer,
    rows,
)
from sqlalchemy import func, select, update

from crmcore.db import utcnow


def _send(api, campaign, **body):
    return api.post(f"/api/v1/campaigns/{campaign.id}/send", json=body)


def _sent_events(session, campaign):
    return session.scalar(
        select(func.count())
        .select_from(CampaignEvent)
        .where(CampaignEvent.campaign_id == campaign.id, CampaignEvent.kind == "sent")
    )


def _expire_lease(session, campaign, owner="dead-host:1:0"):
    session.execute(
        update(Campaign)
        .where(Campaign.id == campaign.id)
        .values(lease_owner=owner, lease_until=utcnow() - dt.timedelta(seconds=5))
    )
    session.commit()


# the happy path, skips and a second click -------------------------------------------------------


def test_send_answers_202_and_each_recipient_gets_exactly_one_message(
    app, crm, api, records, make_contact, session, immediate_jobs
):
    members = [make_contact(tags=["news"], first_name=f"Ana{i}") for i in range(3)]
    soft = make_contact(tags=["news"], first_name="Soft")  # two soft bounces: still mailed
    opted = make_contact(tags=["news"], email_opt_out=True)
    hard = make_contact(tags=["news"])
    no_email = make_contact(tags=["news"], email=None)
    outsider = make_contact(tags=["other"])
    session.add_all(
        [
            Bounce(email=hard.email.lower(), kind="hard"),
            Bounce(email=soft.email.lower(), kind="soft", count=2),
        ]
    )
    session.commit()
    campaign = make_campaign(records, make_segment(records))

    with peer(crm) as inbox:
        answer = _send(api, campaign)
        assert answer.status_code == 202, answer.get_json()
        body = answer.get_json()
        assert body["id"] == campaign.id and body["status"] == "sending"
        assert body["started_at"]

        expected = {c.email for c in [*members, soft]}
        assert inbox.per_recipient == collections.Counter({email: 1 for email in expected})

        # a second click: 409, nothing sent again, nothing added
        again = _send(api, campaign)
        assert again.status_code == 409
        assert again.headers["Content-Type"].startswith("application/problem+json")
        assert "sent" in again.get_json()["detail"]
        assert sum(inbox.per_recipient.values()) == 4

    found = rows(session, campaign)
    assert len(found) == 7 and outsider.email not in found
    assert {e: found[e].status for e in expected} == {e: "sent" for e in expected}
    assert (found[opted.email].status, found[opted.email].reason) == ("skipped", "opted_out")
    assert (found[hard.email].status, found[hard.email].reason) == ("skipped", "bounced")
    nobody = found[f"contact:{no_email.id}"]
    assert (nobody.status, nobody.reason) == ("skipped", "no_email")
    assert all(found[e].sent_at is not None for e in expected)
    assert _sent_events(session, campaign) == 4
    done = fresh(session, campaign)
    assert done.status == "sent" and done.finished_at is not None
    assert done.lease_owner is None

    for message in inbox.parsed():
        to = message["To"].addresses[0].addr_spec
        recipient = found[to]
        assert message["Message-ID"] == recipient.message_id
        assert recipient.message_id.startswith(f"<c{campaign.id}.r{recipient.id}.")
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert message["X-CRM-Campaign"] == str(campaign.id)
        assert message["Subject"].startswith("Spring news for ")
        text = message.get_body(("plain",)).get_content()
        # a line starting with a dot survives the trip (it was dot-stuffed on the wire)
        assert "\n.a line starting with a dot" in "\n" + text


def test_materialising_again_adds_nobody_and_membership_is_frozen(
    app, crm, api, records, make_contact, session
):
    first = make_contact(tags=["news"])
    campaign = make_campaign(records, make_segment(records))
    assert _send(api, campaign).status_code == 202  # the job waits in the queue
    counts = outbox.counts(session, campaign.id)
    assert counts["queued"] == 1

    late = make_contact(tags=["news"])  # joins the segment after the start
    assert outbox.materialise(crm, session, fresh(session, campaign)) == counts
    session.commit()
    with peer(crm) as inbox:
        assert sending.send_campaign(app, campaign.id) == "sent"
    assert inbox.per_recipient == collections.Counter({first.email: 1})
    assert late.email not in rows(session, campaign)


def test_opt_out_and_bounce_after_the_start_are_honoured(
    app, crm, api, records, make_contact, session
):
    stays = make_contact(tags=["news"])
    leaves = make_contact(tags=["news"])
    bounces = make_contact(tags=["news"])
    gone = make_contact(tags=["news"])
    campaign = make_campaign(records, make_segment(records))
    assert _send(api, campaign).status_code == 202
    assert outbox.counts(session, campaign.id)["queued"] == 4
    # between the start and their turn: an unsubscribe (elsewhere), a hard bounce, the trash
    records.update("contacts", leaves, {"email_opt_out": True})
    session.add(Bounce(email=bounces.email.lower(), kind="hard"))
    session.commit()
    records.delete("contacts", gone)

    with peer(crm) as inbox:
        assert sending.send_campaign(app, campaign.id) == "sent"
    assert inbox.per_recipient == collections.Counter({stays.email: 1})
    found = rows(session, campaign)
    assert (found[leaves.email].status, found[leaves.email].reason) == ("skipped", "opted_out")
    assert (found[bounces.email].status, found[bounces.email].reason) == ("skipped", "bounced")
    assert (found[gone.email].status, found[gone.email].reason) == ("skipped", "deleted")


# who may send, and what is refused --------------------------------------------------------------


def test_sending_needs_the_permission_and_update_access(
    crm, records, make_user, make_contact, api_as, marketer, session
):
    make_contact(tags=["news"])
    campaign = make_campaign(records, make_segment(records))
    url = f"/api/v1/campaigns/{campaign.id}/send"
    manager = make_user("manager")  # may update campaigns, lacks marketing.send
    assert api_as(manager).post(url, json={}).status_code == 403
    reader = make_user("read_only")  # may read, not update
    assert api_as(reader).post(url, json={}).status_code == 403
    rep = make_user("sales_rep")  # may not read campaigns at all
    assert api_as(rep).post(url, json={}).status_code == 403
    records.create(
        "roles",
        {
            "name": "own_sender",
            "title": "Sends own campaigns",
            "grants": {"campaigns": {"read": "own", "update": "own"}, "contacts": {"read": "all"}},
            "permissions": ["marketing.send"],
        },
    )
    own = make_user("own_sender")
    assert api_as(own).post(url, json={}).status_code == 404  # not theirs: not even seen
    for path in ("send", "cancel"):
        assert api_as(own).post(f"/api/v1/campaigns/{campaign.id}/{path}").status_code == 404
        assert api_as(manager).post(f"/api/v1/campaigns/{campaign.id}/{path}").status_code == 403
    assert crm.app.test_client().post(url, json={}).status_code == 401
    assert fresh(session, campaign).status == "draft"
    assert outbox.counts(session, campaign.id)["queued"] == 0

    # the check can pass: their own campaign, and a marketer's
    mine = make_campaign(records, make_segment(records, "mine"), owner_id=own.id)
    assert api_as(own).post(f"/api/v1/campaigns/{mine.id}/send", json={}).status_code == 202
    assert api_as(marketer).post(url).status_code == 202  # no body: send now


def test_bad_input_is_refused_and_changes_nothing(api, records, make_contact, session):
    make_contact(tags=["news"])
    segment = make_segment(records)
    campaign = make_campaign(records, segment)
    url = f"/api/v1/campaigns/{campaign.id}/send"
    for body, field in (
        ({"at": "2030-01-01T10:00:00"}, "at"),  # naive: which time zone?
        ({"at": "2001-01-01T10:00:00+00:00"}, "at"),  # the past
        ({"at": "tomorrow"}, "at"),
        ({"at": 12}, "at"),
        ({"when": "2030-01-01T10:00:00Z"}, "when"),
    ):
        answer = api.post(url, json=body)
        assert answer.status_code == 422, body
        assert field in answer.get_json()["errors"], answer.get_json()
    form = api.post(
        url,
        data="at=2030-01-01T10:00:00Z",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert form.status_code == 415  # not silently "now"
    assert api.post("/api/v1/campaigns/999999/send", json={}).status_code == 404
    incomplete = records.create("campaigns", {"name": "Draft", "kind": "email"})
    answer = api.post(f"/api/v1/campaigns/{incomplete.id}/send", json={})
    assert answer.status_code == 422
    assert {"segment_id", "subject", "body_html", "from_email"} <= set(answer.get_json()["errors"])
    records.delete("segments", segment)
    answer = api.post(url, json={})
    assert answer.status_code == 422 and "segment_id" in answer.get_json()["errors"]
    assert fresh(session, campaign).status == "draft"
    assert session.scalar(select(func.count()).select_from(Recipient)) == 0


# scheduling, cancelling, resuming ---------------------------------------------------------------


def test_a_scheduled_campaign_is_sent_by_tick_when_its_time_comes(
    app, crm, api, records, make_contact, session, immediate_jobs
):
    contact = make_contact(tags=["news"])
    campaign = make_campaign(records, make_segment(records))
    at = (utcnow() + dt.timedelta(hours=2)).replace(microsecond=0)
    answer = _send(api, campaign, at=at.astimezone(dt.timezone(dt.timedelta(hours=2))).isoformat())
    assert answer.status_code == 202, answer.get_json()
    assert answer.get_json()["status"] == "scheduled"
    assert dt.datetime.fromisoformat(answer.get_json()["scheduled_at"]) == at
    assert _send(api, campaign).status_code == 409  # scheduled already
    assert outbox.counts(session, campaign.id)["queued"] == 0  # chosen when it starts
    late = make_contact(tags=["news"])  # joins before the time: gets it

    with peer(crm) as inbox:
        assert sending.tick(app)["started"] == []
        session.execute(
            update(Campaign)
            .where(Campaign.id == campaign.id)
            .values(scheduled_at=utcnow() - dt.timedelta(seconds=1))
        )
        session.commit()
        assert sending.tick(app)["started"] == [campaign.id]
        assert sending.tick(app) == {"started": [], "resumed": [], "recovered": []}
    assert inbox.per_recipient == collections.Counter({contact.email: 1, late.email: 1})
    assert fresh(session, campaign).status == "sent"


def test_a_scheduled_campaign_that_cannot_start_goes_back_to_draft(
    app, api, records, make_contact, session
):
    make_contact(tags=["news"])
    segment = make_segment(records)
    campaign = make_campaign(records, segment)
    at = utcnow() + dt.timedelta(hours=1)
    assert _send(api, campaign, at=at.isoformat()).status_code == 202
    records.delete("segments", segment)
    session.execute(
        update(Campaign).where(Campaign.id == campaign.id).values(scheduled_at=utcnow())
    )
    session.commit()
    assert sending.tick(app)["started"] == []
    assert fresh(session, campaign).status == "draft"


def test_cancel_stops_scheduled_and_sending_campaigns(
    app, crm, api, records, make_contact, session
):
    for _ in range(3):
        make_contact(tags=["news"])
    segment = make_segment(records)
    scheduled = make_campaign(records, segment)
    at = utcnow() + dt.timedelta(hours=1)
    assert _send(api, scheduled, at=at.isoformat()).status_code == 202
    cancelled = api.post(f"/api/v1/campaigns/{scheduled.id}/cancel")
    assert cancelled.status_code == 200 and cancelled.get_json()["status"] == "cancelled"
    assert api.post(f"/api/v1/campaigns/{scheduled.id}/cancel").status_code == 409
    assert _send(api, scheduled).status_code == 409
    session.execute(update(Campaign).values(scheduled_at=utcnow() - dt.timedelta(minutes=1)))
    session.commit()
    assert sending.tick(app)["started"] == []

    running = make_campaign(records, segment, name="Running")
    assert _send(api, running).status_code == 202  # its job waits in the queue
    assert api.post(f"/api/v1/campaigns/{running.id}/cancel").status_code == 200
    with peer(crm) as inbox:
        assert sending.send_campaign(app, running.id) == "idle"
        assert sending.tick(app)["resumed"] == []
    assert inbox.messages == []
    assert outbox.counts(session, running.id)["queued"] == 3  # stay unsent
    assert fresh(session, running).status == "cancelled"


def test_tick_and_resume_pick_up_a_send_nobody_works_on(
    app, crm, cli, records, make_contact, session, immediate_jobs
):
    first, second = make_contact(tags=["news"]), make_contact(tags=["news"])
    campaign = make_campaign(records, make_segment(records))
    immediate_jobs.huey.immediate = False
    sending.start(crm, campaign)  # queued, never run: the worker that had it died
    immediate_jobs.huey.immediate = True
    _expire_lease(session, campaign)
    with peer(crm) as inbox:
        assert sending.tick(app)["resumed"] == [campaign.id]
    assert inbox.per_recipient == collections.Counter({first.email: 1, second.email: 1})

    other = make_campaign(records, make_segment(records), name="Other")
    immediate_jobs.huey.immediate = False
    sending.start(crm, other)
    immediate_jobs.huey.immediate = True
    _expire_lease(session, other)
    with peer(crm) as inbox:
        result = cli("marketing", "resume")
        assert result.exit_code == 0, result.output
        assert f"campaign {other.id}: queued" in result.output
    assert sum(inbox.per_recipient.values()) == 2
    assert fresh(session, other).status == "sent"
    result = cli("marketing", "resume", str(other.id))
    assert result.exit_code != 0 and "not sending" in result.output


# the send job: rate, server answers, recovery, the lease ----------------------------------------


def test_the_rate_is_honoured(app, crm, records, make_contact, session):
    for _ in range(9):
        make_contact(tags=["news"])
    campaign = make_campaign(records, make_segment(records), send_rate=4)
    sending.start(crm, campaign)
    started = time.monotonic()
    with peer(crm) as inbox:
        assert sending.send_campaign(app, campaign.id) == "sent"
    elapsed = time.monotonic() - started
    assert sum(inbox.per_recipient.values()) == 9
    assert elapsed >= 8 / 4 * 0.9  # nine messages at 4/s: at least two seconds
    times = sorted(inbox.times)
    for i, moment in enumerate(times):  # never more than the rate (and one) in any second
        assert sum(1 for t in times[i:] if t < moment + 1.0) <= 5


def test_a_long_send_hands_over_to_a_new_job(app, crm, records, make_contact, session):
    contacts = [make_contact(tags=["news"]) for _ in range(8)]
    campaign = make_campaign(records, make_segment(records), send_rate=4)
    sending.start(crm, campaign)
    jobs = crm.jobs
    with marketing_settings(crm, slice_seconds=0.3), peer(crm) as inbox:
        queued = jobs.pending_count()
        assert sending.send_campaign(app, campaign.id) == "continued"
        assert jobs.pending_count() == queued + 2  # the rest as a job of its own; a watchdog
        sent = sum(inbox.per_recipient.values())
        assert 0 < sent < 8
        handed = fresh(session, campaign)
        assert handed.status == "sending" and handed.lease_owner is None
        assert sending.tick(app)["resumed"] == []  # queued already: not queued again
        outcomes = []
        while not outcomes or outcomes[-1] == "continued":
            outcomes.append(sending.send_campaign(app, campaign.id))
    assert outcomes[-1] == "sent"
    assert inbox.per_recipient == collections.Counter({c.email: 1 for c in contacts})


def test_the_instance_rate_applies_when_the_campaign_sets_none(app, crm, records, make_contact):
    for _ in range(4):
        make_contact(tags=["news"])
    campaign = make_campaign(records, make_segment(records))
    sending.start(crm, campaign)
    started = time.monotonic()
    with marketing_settings(crm, send_rate=2), peer(crm) as inbox:
        assert sending.send_campaign(app, campaign.id) == "sent"
    assert sum(inbox.per_recipient.values()) == 4
    assert time.monotonic() - started >= 3 / 2 * 0.9


def test_server_refusals_fail_or_retry_single_messages(app, crm, records, make_contact, session):
    good = make_contact(tags=["news"])
    unknown_user = make_contact(tags=["news"])
    full_box = make_contact(tags=["news"])
    spam = make_contact(tags=["news"])
    greylisted = make_contact(tags=["news"])
    last = make_contact(tags=["news"])
    campaign = make_campaign(records, make_segment(records))
    sending.start(crm, campaign)
    with (
        marketing_settings(crm, retry_seconds=0),
        peer(
            crm,
            rcpt={
                unknown_user.email: "550 5.1.1 No such user",
                full_box.email: "452 4.2.2 Mailbox full",
            },
            data={
                spam.email: ["554 5.7.1 Message refused as spam"],
                greylisted.email: ["451 4.7.1 Greylisted, try again later"],
            },
        ) as inbox,
    ):
        assert sending.send_campaign(app, campaign.id) == "sent"
    assert inbox.per_recipient == collections.Counter(
        {good.email: 1, greylisted.email: 1, last.email: 1}
    )
    found = rows(session, campaign)
    assert found[good.email].status == "sent" and found[last.email].status == "sent"
    assert (found[greylisted.email].status, found[greylisted.email].attempts) == ("sent", 1)
    refused = found[unknown_user.email]
    assert (refused.status, refused.reason) == ("failed", "550 5.1.1 No such user")
    assert (found[spam.email].status, found[spam.email].reason) == (
        "failed",
        "554 5.7.1 Message refused as spam",
    )
    full = found[full_box.email]
    assert (full.status, full.attempts) == ("failed", sending.MAX_ATTEMPTS)
    assert full.reason == "452 4.2.2 Mailbox full"
    assert inbox.tries[full_box.email] == sending.MAX_ATTEMPTS
    assert fresh(session, campaign).status == "sent"  # failures never stop a campaign


def test_temporary_refusals_wait_before_the_next_try(app, crm, records, make_contact, session):
    good = make_contact(tags=["news"])
    later = make_contact(tags=["news"])
    campaign = make_campaign(records, make_segment(records))
    sending.start(crm, campaign)
    with peer(crm, data={later.email: ["421 4.3.2 Busy, come back later"]}) as inbox:
        assert sending.send_campaign(app, campaign.id) == "parked"
        parked = fresh(session, campaign)
        assert parked.status == "sending" and parked.lease_owner == sending.PARKED
        assert parked.lease_until > utcnow() + dt.timedelta(seconds=250)
        assert sending.send_campaign(app, campaign.id) == "held"  # not before its time
        assert sending.tick(app)["resumed"] == []
        _expire_lease(session, campaign, owner=sending.PARKED)
        assert sending.send_campaign(app, campaign.id) == "sent"
    assert inbox.per_recipient == collections.Counter({good.email: 1, later.email: 1})
    assert rows(session, campaign)[later.email].attempts == 1


def test_a_dead_senders_rows_are_recovered_never_sent_twice(
    app, crm, records, make_contact, session
):
    contacts = [make_contact(tags=["news"]) for _ in range(4)]
    campaign = make_campaign(records, make_segment(records))
    sending.start(crm, campaign)
    found = rows(session, campaign)
    claimed, handing = found[contacts[0].email], found[contacts[1].email]
    outbox.set_status(session, claimed.id, "sending")  # the server never saw its end
    outbox.set_status(session, handing.id, "handover")  # it may have been delivered
    _expire_lease(session, campaign)

    with peer(crm) as inbox:
        assert sending.send_campaign(app, campaign.id) == "sent"
    assert inbox.per_recipient == collections.Counter(
        {c.email: 1 for c in (contacts[0], contacts[2], contacts[3])}
    )
    found = rows(session, campaign)
    assert found[contacts[0].email].status == "sent"
    assert found[contacts[1].email].status == "unknown"
    assert "handing the message over" in found[contacts[1].email].reason


def test_a_live_lease_is_not_taken(app, crm, records, make_contact, session):
    make_contact(tags=["news"])
    campaign = make_campaign(records, make_segment(records))
    sending.start(crm, campaign)
    session.execute(
        update(Campaign)
        .where(Campaign.id == campaign.id)
        .values(lease_owner="alive:1:x", lease_until=utcnow() + dt.timedelta(minutes=1))
    )
    session.commit()
    jobs = crm.jobs
    queued = jobs.pending_count()
    with peer(crm) as inbox:
        assert sending.send_campaign(app, campaign.id) == "held"
        assert jobs.pending_count() == queued  # not a watchdog: it just ends
        assert sending.send_campaign(app, campaign.id, watching="alive:1:x") == "held"
        assert jobs.pending_count() == queued + 1  # the watchdog looks again later
        assert sending.send_campaign(app, campaign.id, watching="someone-else") == "held"
        assert jobs.pending_count() == queued + 1
    assert inbox.messages == []
    assert outbox.counts(session, campaign.id)["queued"] == 1
    _expire_lease(session, campaign, owner="alive:1:x")  # it died: the watchdog takes over
    with peer(crm) as inbox:
        assert sending.send_campaign(app, campaign.id, watching="alive:1:x") == "sent"
    assert len(inbox.messages) == 1


def test_a_connection_lost_after_the_end_leaves_the_message_unknown(
    app, crm, records, make_contact, session
):
    first, dropped, third = (make_contact(tags=["news"]) for _ in range(3))
    campaign = make_campaign(records, make_segment(records))
    sending.start(crm, campaign)
    with peer(crm, drop={dropped.email}) as inbox:
        assert sending.send_campaign(app, campaign.id) == "sent"
    # the server took it, then the connection broke before its answer: never sent again
    assert inbox.per_recipient == collections.Counter(
        {first.email: 1, dropped.email: 1, third.email: 1}
    )
    found = rows(session, campaign)
    assert found[dropped.email].status == "unknown"
    assert "after the end of the message" in found[dropped.email].reason
    assert found[third.email].status == "sent"  # on a new connection


def test_an_operator_may_send_the_unknown_ones_again(
    app, crm, records, make_contact, session, cli
):
    _first, dropped = (make_contact(tags=["news"]) for _ in range(2))
    campaign = make_campaign(records, make_segment(records))
    sending.start(crm, campaign)
    with peer(crm, drop={dropped.email}):
        assert sending.send_campaign(app, campaign.id) == "sent"
    assert fresh(session, campaign).status == "sent"
    refused = cli("marketing", "requeue-unknown", str(campaign.id), input="n\n")
    assert refused.exit_code == 1 and "twice" in refused.output  # asks, and no means no
    assert rows(session, campaign)[dropped.email].status == "unknown"

    with peer(crm) as inbox:
        done = cli("marketing", "requeue-unknown", str(campaign.id), "--yes")
        assert done.exit_code == 0 and "1 message(s) queued again" in done.output, done.output
        assert fresh(session, campaign).status == "sending"
        assert sending.send_campaign(app, campaign.id) == "sent"
    assert inbox.per_recipient == collections.Counter({dropped.email: 1})  # only that one
    assert rows(session, campaign)[dropped.email].status == "sent"
    assert fresh(session, campaign).status == "sent"
    again = cli("marketing", "requeue-unknown", str(campaign.id), "--yes")
    assert "no message of unknown fate" in again.output


def test_an_unreachable_server_keeps_the_messages_for_later(
    app, crm, records, make_contact, session, monkeypatch
):
    from crmcore.testing.smtp import free_port

    contact = make_contact(tags=["news"])
    campaign = make_campaign(records, make_segment(records))
    sending.start(crm, campaign)
    monkeypatch.setattr(sending, "CONNECT_TRIES", 2)
    monkeypatch.setattr(crm.settings, "smtp_url", f"smtp://127.0.0.1:{free_port()}?timeout=2")
    assert sending.send_campaign(app, campaign.id) == "parked"
    found = rows(session, campaign)[contact.email]
    assert (found.status, found.attempts) == ("queued", 0)
    assert fresh(session, campaign).lease_owner == sending.PARKED


def test_without_a_mail_server_messages_go_to_the_file_outbox(
    app, crm, records, make_contact, session, monkeypatch
):
    monkeypatch.setattr(crm.settings, "smtp_url", None)
    contacts = [make_contact(tags=["news"]) for _ in range(3)]
    campaign = make_campaign(records, make_segment(records))
    sending.start(crm, campaign)
    assert sending.send_campaign(app, campaign.id) == "sent"
    folder = crm.settings.instance_path / "outbox"
    mine = [
        msg
        for msg in (
            message_from_bytes(p.read_bytes(), policy=policy.default) for p in folder.glob("*.eml")
        )
        if msg["X-CRM-Campaign"] == str(campaign.id)
    ]
    assert sorted(m["To"].addresses[0].addr_spec for m in mine) == sorted(c.email for c in contacts)
    assert all(r.status == "sent" for r in rows(session, campaign).values())


def test_an_address_that_would_inject_a_header_fails_alone(
    app, crm, records, make_contact, session
):
    good = make_contact(tags=["news"])
    evil = make_contact(tags=["news"])
    # imported long ago, before addresses were checked: a line break in the address
    contact_model = crm.registry.get("contacts").model
    session.execute(
        update(contact_model)
        .where(contact_model.id == evil.id)
        .values(email="victim@example.com\r\nBcc: everyone@example.com")
    )
    session.commit()
    campaign = make_campaign(records, make_segment(records))
    sending.start(crm, campaign)
    with peer(crm) as inbox:
        assert sending.send_campaign(app, campaign.id) == "sent"
    assert inbox.per_recipient == collections.Counter({good.email: 1})
    assert all("everyone@example.com" not in m["rcpt_tos"] for m in inbox.messages)
    failed = next(r for r in rows(session, campaign).values() if r.contact_id == evil.id)
    assert failed.status == "failed" and "could not be built" in failed.reason


# the command line -------------------------------------------------------------------------------


def test_cli_send_now_later_and_twice(app, crm, cli, records, make_contact, session):
    contact = make_contact(tags=["news"])
    segment = make_segment(records)
    campaign = make_campaign(records, segment)
    with peer(crm) as inbox:
        result = cli("marketing", "send", str(campaign.id), "--wait")
        assert result.exit_code == 0, result.output
        assert "1 recipient(s), 0 skipped" in result.output and "sent: 1 sent" in result.output
    assert inbox.per_recipient == collections.Counter({contact.email: 1})
    again = cli("marketing", "send", str(campaign.id))
    assert again.exit_code != 0 and "only a draft can be sent" in again.output

    later = make_campaign(records, segment, name="Later")
    result = cli("marketing", "send", str(later.id), "--at", "2099-01-01T09:00:00+01:00")
    assert result.exit_code == 0 and "scheduled" in result.output
    assert fresh(session, later).scheduled_at == dt.datetime(2099, 1, 1, 8, tzinfo=dt.UTC)
    naive = make_campaign(records, segment, name="Naive")
    result = cli("marketing", "send", str(naive.id), "--at", "2099-01-01T09:00:00")
    assert result.exit_code != 0 and "time zone" in result.output
    assert fresh(session, naive).status == "draft"
    assert cli("marketing", "send", "999999").exit_code != 0


@pytest.mark.parametrize("rate", ["fast", "-3", ""])
def test_unreadable_rate_settings_fall_back_to_the_default(crm, rate):
    with marketing_settings(crm, send_rate=rate):
        assert sending.default_rate(crm) == sending.DEFAULT_RATE


# the hand-over protocol itself ------------------------------------------------------------------


def _message(to="ana@example.com", body="Hello\n.hidden dot line\n..two dots\n"):
    from email.message import EmailMessage

    message = EmailMessage()
    message["From"] = "news@shop.example.com"
    message["To"] = to
    message["Subject"] = "Protocol"
    message.set_content(body)
    return message


def test_a_message_without_its_final_dot_is_discarded_by_the_server():
    from crm_marketing.smtp_session import SmtpTransport

    from crmcore.mail import parse_smtp_url
    from crmcore.testing.smtp import start_smtp

    controller, inbox = start_smtp()
    try:
        transport = SmtpTransport(parse_smtp_url(inbox.url))
        assert transport.begin("news@shop.example.com", "ana@example.com", _message()) is None
        transport.abort()  # the sender dies before the dot
        assert transport.begin("news@shop.example.com", "bea@example.com", _message()) is None
        transport.close()  # even a clean stop never ends a half-sent message
        assert transport.begin("news@shop.example.com", "cai@example.com", _message()) is None
        reply = transport.finish()
        assert reply.ok and transport.connections == 3
        transport.close()
        time.sleep(0.2)
    finally:
        controller.stop()
    assert [m["rcpt_tos"] for m in inbox.messages] == [["cai@example.com"]]
    text = inbox.parsed()[0].get_content().replace("\r\n", "\n")
    assert text == "Hello\n.hidden dot line\n..two dots\n"  # dots stuffed, and unstuffed


def test_the_endpoints_are_documented(api):
    paths = api.get("/api/v1/openapi.json").get_json()["paths"]
    send = paths["/api/v1/campaigns/{campaign_id}/send"]["post"]
    assert send["requestBody"]["required"] is False  # no body: now
    assert "202" in send["responses"]
    assert "post" in paths["/api/v1/campaigns/{campaign_id}/cancel"]
    for suffix in ("csv", "pdf"):
        assert "get" in paths[f"/api/v1/campaigns/{{campaign_id}}/labels.{suffix}"]
