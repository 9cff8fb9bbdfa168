"""Outbound webhooks: the entity, the outbox in the change's transaction, signed delivery,
the owner's scope, retries and disabling, replay and rotation; bad input refused when saved."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from sqlalchemy import func, select

from crm_automation.webhooks import delivery as delivery_mod
from crm_automation.webhooks import signing
from crm_automation.webhooks.models import (
    AutomationWebhook,
    AutomationWebhookAttempt,
    AutomationWebhookDelivery,
)

pytestmark = pytest.mark.crm_plugins("automation")


def _deliveries(session: Any, **where: Any) -> list[AutomationWebhookDelivery]:
    stmt = select(AutomationWebhookDelivery).order_by(AutomationWebhookDelivery.id)
    for name, value in where.items():
        stmt = stmt.where(getattr(AutomationWebhookDelivery, name) == value)
    return list(session.scalars(stmt))


def _send_all(crm: Any, session: Any, now: dt.datetime | None = None) -> list[str | None]:
    now = now or dt.datetime.now(dt.UTC)
    return [
        delivery_mod.deliver(crm, session, d.id, now=now)
        for d in _deliveries(session, state="pending")
    ]


# the entity and its secret ---------------------------------------------------------------------


def test_secret_is_answered_once_and_never_audited(api: Any, allow_hosts: Any, receiver: Any,
                                                   session: Any) -> None:  # fmt: skip
    allow_hosts("127.0.0.1")
    r = api.post("/api/v1/webhooks", json={"name": "Chat", "url": receiver.url,
                                           "entities": "contacts, companies", "events": "created"})
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["signing_secret"].startswith("whsec_") and len(body["signing_secret"]) > 40
    assert body["entities"] == "contacts,companies"
    again = api.get(f"/api/v1/webhooks/{body['id']}").get_json()
    assert again["signing_secret"] is None
    history = json.dumps(api.get(f"/api/v1/webhooks/{body['id']}/history").get_json())
    assert body["signing_secret"] not in history
    hook = session.get(AutomationWebhook, body["id"])
    assert hook.secret == body["signing_secret"] and hook.secret_shown is True


def test_rotate_secret_answers_the_new_one_and_the_old_stops_verifying(
    api: Any, make_webhook: Any, allow_hosts: Any, receiver: Any, make_contact: Any,
    session: Any, crm: Any,
) -> None:  # fmt: skip
    allow_hosts("127.0.0.1")
    hook = make_webhook(receiver.url)
    old = hook.secret
    r = api.post(f"/api/v1/webhooks/{hook.id}/rotate_secret", json={})
    assert r.status_code == 200, r.get_json()
    new = r.get_json()["signing_secret"]
    assert new != old and new.startswith("whsec_")
    make_contact()
    _send_all(crm, session)
    sent = receiver.requests[-1]
    stamp, sig = sent.headers["X-CRM-Timestamp"], sent.headers["X-CRM-Signature"]
    assert signing.verify(new, sent.body, stamp, sig)
    assert not signing.verify(old, sent.body, stamp, sig)


@pytest.mark.parametrize(
    ("url", "named"),
    [
        ("http://127.1/hook", "127.1"),
        ("http://2130706433/hook", "2130706433"),
        ("http://169.254.169.254/latest/meta-data", "169.254.169.254"),
        ("http://[::1]:8080/x", "[::1]"),
        ("http://localhost/x", "localhost"),
        ("ftp://example.com/x", "ftp://example.com/x"),
        ("not a url", "not a url"),
        ("http://user:pw@example.com/", "example.com"),
    ],
)
def test_a_refused_address_is_refused_when_saved_naming_the_url(
    api: Any, url: str, named: str, session: Any
) -> None:
    r = api.post("/api/v1/webhooks", json={"name": "X", "url": url, "entities": "contacts"})
    assert r.status_code == 422, r.get_json()
    message = " ".join(r.get_json()["errors"]["url"])
    assert named in message
    assert session.scalar(select(func.count()).select_from(AutomationWebhook)) == 0


def test_an_unknown_entity_or_event_is_refused_naming_it(api: Any, allow_hosts: Any) -> None:
    allow_hosts("127.0.0.1")
    r = api.post("/api/v1/webhooks", json={"name": "X", "url": "http://127.0.0.1:9/",
                                           "entities": "contacts, unicorns"})
    assert r.status_code == 422
    assert "unicorns" in " ".join(r.get_json()["errors"]["entities"])
    r = api.post("/api/v1/webhooks", json={"name": "X", "url": "http://127.0.0.1:9/",
                                           "entities": "webhooks"})
    assert r.status_code == 422 and "webhooks" in " ".join(r.get_json()["errors"]["entities"])
    r = api.post("/api/v1/webhooks", json={"name": "X", "url": "http://127.0.0.1:9/",
                                           "entities": "contacts", "events": "exploded"})
    assert r.status_code == 422 and "exploded" in " ".join(r.get_json()["errors"]["events"])


def test_an_update_to_a_refused_address_is_refused(api: Any, make_webhook: Any,
                                                   allow_hosts: Any) -> None:  # fmt: skip
    allow_hosts("127.0.0.1")
    hook = make_webhook("http://127.0.0.1:9/")
    r = api.patch(f"/api/v1/webhooks/{hook.id}", json={"url": "http://0x7f.1/"},
                  headers={"If-Match": f'"{hook.version}"'})  # fmt: skip
    assert r.status_code == 422 and "0x7f.1" in " ".join(r.get_json()["errors"]["url"])


# the outbox -------------------------------------------------------------------------------------


def test_the_delivery_row_is_written_in_the_change_s_transaction(
    make_webhook: Any, allow_hosts: Any, records: Any, session: Any, crm: Any
) -> None:
    allow_hosts("127.0.0.1")
    make_webhook("http://127.0.0.1:9/")
    contact = records.create("contacts", {"first_name": "Ana", "last_name": "Gil"}, commit=False)
    assert _deliveries(session) == []  # not before the commit
    records.commit()
    [row] = _deliveries(session)
    body = json.loads(row.body)
    assert body["type"] == "contact.created" and row.event_type == "contact.created"
    assert body["data"]["id"] == contact.id and body["data"]["first_name"] == "Ana"
    assert body["id"] == row.event_id and body["occurred_at"].endswith("Z")


def test_a_rolled_back_change_sends_nothing(
    make_webhook: Any, allow_hosts: Any, records: Any, session: Any, crm: Any, receiver: Any,
    immediate_jobs: Any,
) -> None:  # fmt: skip
    allow_hosts("127.0.0.1")
    make_webhook(receiver.url)
    records.create("contacts", {"first_name": "Ghost", "last_name": "Row"}, commit=False)
    records.rollback()
    records.create("contacts", {"first_name": "Real", "last_name": "Row"})
    rows = _deliveries(session)
    assert [json.loads(r.body)["data"]["first_name"] for r in rows] == ["Real"]
    assert [json.loads(r.body)["data"]["first_name"] for r in receiver.requests] == ["Real"]


def test_a_vetoed_write_sends_nothing(
    make_webhook: Any, allow_hosts: Any, records: Any, session: Any
) -> None:
    from crmcore.errors import ValidationError

    allow_hosts("127.0.0.1")
    make_webhook("http://127.0.0.1:9/", events="updated")
    contact = records.create("contacts", {"first_name": "Ana", "last_name": "Gil"})
    with pytest.raises(ValidationError):
        records.update("contacts", contact, {"email": "not an address"})
    session.commit()
    assert _deliveries(session) == []


def test_events_and_entities_are_filtered(
    make_webhook: Any, allow_hosts: Any, records: Any, session: Any, make_company: Any
) -> None:
    allow_hosts("127.0.0.1")
    make_webhook("http://127.0.0.1:9/", events="deleted, restored")
    contact = records.create("contacts", {"first_name": "Ana", "last_name": "Gil"})
    records.update("contacts", contact, {"first_name": "Anabel"})
    make_company()
    assert _deliveries(session) == []
    records.delete("contacts", contact)
    records.restore("contacts", contact.id)
    assert [r.event_type for r in _deliveries(session)] == ["contact.deleted", "contact.restored"]


def test_the_payload_respects_the_owner_s_scope(
    make_user: Any, make_webhook: Any, allow_hosts: Any, records: Any, session: Any
) -> None:
    allow_hosts("127.0.0.1")
    rep, other = make_user("sales_rep"), make_user("sales_rep")
    make_webhook("http://127.0.0.1:9/", owner_id=rep.id)
    records.create("contacts", {"first_name": "Hidden", "last_name": "X", "owner_id": other.id})
    records.create("contacts", {"first_name": "Mine", "last_name": "Y", "owner_id": rep.id})
    names = [json.loads(r.body)["data"]["first_name"] for r in _deliveries(session)]
    assert names == ["Mine"]


def test_an_inactive_or_trashed_webhook_gets_nothing(
    make_webhook: Any, allow_hosts: Any, records: Any, session: Any
) -> None:
    allow_hosts("127.0.0.1")
    make_webhook("http://127.0.0.1:9/", active=False)
    gone = make_webhook("http://127.0.0.1:9/")
    records.delete("webhooks", gone)
    records.create("contacts", {"first_name": "Ana", "last_name": "Gil"})
    assert _deliveries(session) == []


# delivery ---------------------------------------------------------------------------------------


def test_a_delivery_is_signed_and_carries_its_ids(
    make_webhook: Any, allow_hosts: Any, records: Any, receiver: Any, immediate_jobs: Any,
    session: Any,
) -> None:  # fmt: skip
    allow_hosts("127.0.0.1")
    hook = make_webhook(receiver.url)
    records.create("contacts", {"first_name": "Ana", "last_name": "Gil"})
    [sent] = receiver.requests
    [row] = _deliveries(session)
    assert row.state == "delivered" and row.attempts == 1
    assert sent.headers["X-CRM-Delivery"] == row.delivery_id
    assert sent.headers["X-CRM-Event"] == "contact.created"
    assert sent.headers["Content-Type"] == "application/json"
    assert signing.verify(hook.secret, sent.body, sent.headers["X-CRM-Timestamp"],
                          sent.headers["X-CRM-Signature"])  # fmt: skip
    tampered = sent.body.replace(b"Ana", b"Eva")
    assert not signing.verify(hook.secret, tampered, sent.headers["X-CRM-Timestamp"],
                              sent.headers["X-CRM-Signature"])  # fmt: skip
    old = str(int(sent.headers["X-CRM-Timestamp"]) - 3600)
    assert not signing.verify(hook.secret, sent.body, old,
                              signing.signature(hook.secret, int(old), sent.body))  # fmt: skip
    [attempt] = session.scalars(select(AutomationWebhookAttempt)).all()
    assert attempt.status_code == 200 and attempt.response_excerpt == "answer 200"


def test_signature_format_is_the_documented_one() -> None:
    import hashlib
    import hmac

    body = b'{"a":1}'
    expected = hmac.new(b"whsec_k", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert signing.signature("whsec_k", 1700000000, body) == f"v1={expected}"


def test_failures_back_off_then_disable_the_webhook_and_notify_the_owner(
    make_webhook: Any, allow_hosts: Any, records: Any, receiver: Any, session: Any, crm: Any,
    admin: Any,
) -> None:  # fmt: skip
    from crmcore.notifications import Notification

    allow_hosts("127.0.0.1")
    records.update("users", admin, {"locale": "es"})
    receiver.status = 503
    hook = make_webhook(receiver.url)
    records.create("contacts", {"first_name": "Ana", "last_name": "Gil"})
    records.create("contacts", {"first_name": "Eva", "last_name": "Ruiz"})
    first, second = _deliveries(session)
    start = first.created_at
    now = start
    waits = []
    while True:
        state = delivery_mod.deliver(crm, session, first.id, now=now)
        session.refresh(first)
        if state == "failed":
            break
        assert state == "pending"
        waits.append(first.next_attempt_at - now)
        now = first.next_attempt_at
        assert now - start < dt.timedelta(hours=25)
    assert waits[:4] == [dt.timedelta(seconds=s) for s in (30, 60, 120, 240)]
    assert max(waits) == delivery_mod.MAX_DELAY
    assert now - start <= delivery_mod.RETRY_WINDOW
    assert len(receiver.requests) == first.attempts == len(waits) + 1
    session.refresh(hook)
    assert hook.active is False and first.delivery_id in hook.disabled_reason
    session.refresh(second)
    assert second.state == "failed"  # the other pending deliveries stop too
    [note] = session.scalars(select(Notification).where(Notification.user_id == admin.id))
    assert note.kind == "automation.webhook_disabled" and note.link_id == hook.id
    assert note.title == "Webhook desactivado: Test hook"  # in the owner's language
    assert receiver.url in note.body
    log = session.scalars(
        select(AutomationWebhookAttempt).where(AutomationWebhookAttempt.delivery_id == first.id)
    ).all()
    assert {a.status_code for a in log} == {503} and all(a.duration_ms >= 0 for a in log)


def test_a_delivery_is_not_sent_twice_by_two_workers(
    make_webhook: Any, allow_hosts: Any, records: Any, receiver: Any, session: Any, crm: Any
) -> None:
    allow_hosts("127.0.0.1")
    make_webhook(receiver.url)
    records.create("contacts", {"first_name": "Ana", "last_name": "Gil"})
    [row] = _deliveries(session)
    now = dt.datetime.now(dt.UTC)
    assert delivery_mod.deliver(crm, session, row.id, now=now) == "delivered"
    assert delivery_mod.deliver(crm, session, row.id, now=now) is None
    assert len(receiver.requests) == 1


def test_a_retry_keeps_the_delivery_id(
    make_webhook: Any, allow_hosts: Any, records: Any, receiver: Any, session: Any, crm: Any
) -> None:
    allow_hosts("127.0.0.1")
    receiver.answers = [500, 200]
    make_webhook(receiver.url)
    records.create("contacts", {"first_name": "Ana", "last_name": "Gil"})
    [row] = _deliveries(session)
    now = dt.datetime.now(dt.UTC)
    assert delivery_mod.deliver(crm, session, row.id, now=now) == "pending"
    assert delivery_mod.deliver(crm, session, row.id, now=now) is None  # not due yet
    assert delivery_mod.deliver(crm, session, row.id, now=row.next_attempt_at) == "delivered"
    ids = {r.headers["X-CRM-Delivery"] for r in receiver.requests}
    assert ids == {row.delivery_id} and len(receiver.requests) == 2


def test_replay_sends_the_event_again_with_a_new_delivery_id(
    api: Any, make_webhook: Any, allow_hosts: Any, records: Any, receiver: Any, session: Any,
    immediate_jobs: Any,
) -> None:  # fmt: skip
    allow_hosts("127.0.0.1")
    hook = make_webhook(receiver.url)
    records.create("contacts", {"first_name": "Ana", "last_name": "Gil"})
    [row] = _deliveries(session)
    r = api.post(f"/api/v1/webhooks/{hook.id}/replay", json={"delivery": row.delivery_id})
    assert r.status_code == 202, r.get_json()
    first, again = receiver.requests
    assert first.body == again.body
    assert first.headers["X-CRM-Delivery"] != again.headers["X-CRM-Delivery"]
    assert first.headers["X-CRM-Event-Id"] == again.headers["X-CRM-Event-Id"]
    r = api.post(f"/api/v1/webhooks/{hook.id}/replay", json={"delivery": "nope"})
    assert r.status_code == 422 and "delivery" in r.get_json()["errors"]


def test_a_redirect_to_a_refused_address_is_not_followed(
    make_webhook: Any, allow_hosts: Any, records: Any, receiver: Any, session: Any, crm: Any
) -> None:
    allow_hosts("127.0.0.1")
    receiver.answers = [(307, "http://169.254.169.254/latest/meta-data/")]
    make_webhook(receiver.url)
    records.create("contacts", {"first_name": "Ana", "last_name": "Gil"})
    assert _send_all(crm, session) == ["pending"]
    [attempt] = session.scalars(select(AutomationWebhookAttempt)).all()
    assert attempt.status_code is None and "169.254.169.254" in attempt.error
    assert len(receiver.requests) == 1


def test_a_redirect_within_allowed_hosts_is_followed(
    make_webhook: Any, allow_hosts: Any, records: Any, receiver: Any, session: Any, crm: Any
) -> None:
    allow_hosts("127.0.0.1")
    receiver.answers = [(308, "/moved"), 204]
    make_webhook(receiver.url)
    records.create("contacts", {"first_name": "Ana", "last_name": "Gil"})
    assert _send_all(crm, session) == ["delivered"]
    assert [r.path for r in receiver.requests] == ["/hook", "/moved"]
    assert receiver.requests[0].body == receiver.requests[1].body


def test_an_address_allowed_when_saved_but_refused_later_is_not_called(
    make_webhook: Any, allow_hosts: Any, records: Any, receiver: Any, session: Any, crm: Any
) -> None:
    allow_hosts("127.0.0.1")
    make_webhook(receiver.url)
    allow_hosts()  # the admin withdraws the allowance
    records.create("contacts", {"first_name": "Ana", "last_name": "Gil"})
    assert _send_all(crm, session) == ["pending"]
    assert receiver.requests == []
    [attempt] = session.scalars(select(AutomationWebhookAttempt)).all()
    assert "127.0.0.1" in attempt.error and "loopback" in attempt.error


def test_a_delivery_claimed_by_a_killed_worker_is_sent_after_its_lease(
    make_webhook: Any, allow_hosts: Any, records: Any, receiver: Any, session: Any, crm: Any
) -> None:
    allow_hosts("127.0.0.1")
    make_webhook(receiver.url)
    records.create("contacts", {"first_name": "Ana", "last_name": "Gil"})
    now = dt.datetime.now(dt.UTC)
    [claimed] = delivery_mod.claim_due(session, now, 10)  # the worker dies here, nothing sent
    assert delivery_mod.drain(crm, session, now=now) == 0  # leased: nobody else sends it
    later = now + delivery_mod.LEASE + dt.timedelta(seconds=1)
    assert delivery_mod.drain(crm, session, now=later) == 1
    session.refresh(claimed)
    assert claimed.state == "delivered" and len(receiver.requests) == 1


def test_a_batch_reuses_one_connection_per_checked_address(
    make_webhook: Any, allow_hosts: Any, records: Any, receiver: Any, session: Any, crm: Any
) -> None:
    allow_hosts("127.0.0.1")
    make_webhook(receiver.url)
    for n in range(5):
        records.create("contacts", {"first_name": "Ana", "last_name": f"Gil {n}"})
    assert delivery_mod.drain(crm, session) == 5
    assert {d.state for d in _deliveries(session)} == {"delivered"}
    assert len(receiver.requests) == 5 and len(receiver.connections) == 1
