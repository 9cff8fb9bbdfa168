"""``Idempotency-Key`` on API POSTs: a retry gets the first answer, never a second record.
(Two concurrent requests with one key are tried against a served instance in
``test_concurrency.py``.)"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select, update

from crmcore.contacts.models import Contact
from crmcore.idempotency import IdempotencyKey


def contacts_named(crm: Any, name: str) -> int:
    stmt = select(func.count()).select_from(Contact).where(Contact.last_name == name)
    return int(crm.session.scalar(stmt))


def test_a_retry_replays_the_first_answer(api: Any, crm: Any) -> None:
    body = {"last_name": "Retried", "email": "retried@example.com"}
    headers = {"Idempotency-Key": "create-retried-1"}
    first = api.post("/api/v1/contacts", json=body, headers=headers)
    assert first.status_code == 201
    again = api.post("/api/v1/contacts", json=body, headers=headers)
    assert again.status_code == 201
    assert again.json == first.json
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert contacts_named(crm, "Retried") == 1
    # without a key, or with a new one, a POST creates again
    assert api.post("/api/v1/contacts", json=body).status_code == 201
    other = api.post("/api/v1/contacts", json=body, headers={"Idempotency-Key": "create-2"})
    assert other.status_code == 201 and other.json["id"] != first.json["id"]
    assert contacts_named(crm, "Retried") == 3


def test_a_key_reused_for_another_request_is_refused(api: Any, crm: Any) -> None:
    headers = {"Idempotency-Key": "reused-key"}
    assert (
        api.post("/api/v1/contacts", json={"last_name": "One"}, headers=headers).status_code == 201
    )
    answer = api.post("/api/v1/contacts", json={"last_name": "Two"}, headers=headers)
    assert answer.status_code == 422
    assert answer.mimetype == "application/problem+json"
    answer = api.post("/api/v1/companies", json={"last_name": "One"}, headers=headers)
    assert answer.status_code == 422
    assert contacts_named(crm, "Two") == 0


def test_keys_belong_to_their_user(api: Any, api_as: Any, make_user: Any, crm: Any) -> None:
    headers = {"Idempotency-Key": "shared-name"}
    body = {"last_name": "Mine"}
    mine = api.post("/api/v1/contacts", json=body, headers=headers)
    theirs = api_as(make_user("sales_rep")).post("/api/v1/contacts", json=body, headers=headers)
    assert mine.status_code == theirs.status_code == 201
    assert mine.json["id"] != theirs.json["id"]
    assert "Idempotent-Replayed" not in theirs.headers


def test_errors_are_replayed_but_server_failures_are_not_kept(api: Any, crm: Any) -> None:
    headers = {"Idempotency-Key": "invalid-body"}
    bad = api.post("/api/v1/contacts", json={"email": "not an address"}, headers=headers)
    assert bad.status_code == 422
    again = api.post("/api/v1/contacts", json={"email": "not an address"}, headers=headers)
    assert again.status_code == 422 and again.json == bad.json
    assert again.headers["Idempotent-Replayed"] == "true"


def test_record_actions_take_a_key(api: Any, crm: Any, records: Any) -> None:
    contact = records.create("contacts", {"last_name": "Trashed"})
    records.delete("contacts", contact)
    headers = {"Idempotency-Key": "restore-1"}
    first = api.post(f"/api/v1/contacts/{contact.id}/restore", headers=headers)
    assert first.status_code == 200
    again = api.post(f"/api/v1/contacts/{contact.id}/restore", headers=headers)
    assert again.status_code == 200 and again.json == first.json
    assert again.headers["Idempotent-Replayed"] == "true"


def test_keys_expire_after_a_day(api: Any, crm: Any) -> None:
    headers = {"Idempotency-Key": "old-key"}
    assert (
        api.post("/api/v1/contacts", json={"last_name": "Old"}, headers=headers).status_code == 201
    )
    crm.session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.key == "old-key")
        .values(created_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=25))
    )
    crm.session.commit()
    answer = api.post("/api/v1/contacts", json={"last_name": "New"}, headers=headers)
    assert answer.status_code == 201
    assert "Idempotent-Replayed" not in answer.headers


def test_bad_keys_are_refused(api: Any, crm: Any) -> None:
    for key in ("", "x" * 256, "caf\u00e9"):
        answer = api.post(
            "/api/v1/contacts", json={"last_name": "Keyless"}, headers={"Idempotency-Key": key}
        )
        assert answer.status_code == 400, key
        assert answer.mimetype == "application/problem+json"
    assert contacts_named(crm, "Keyless") == 0


def _die_before_answering(monkeypatch: Any) -> None:
    """The process dies after the view (its commits done) and before the answer is stored."""
    from crmcore import idempotency

    monkeypatch.setattr(idempotency, "finish", lambda crm, response: response)


def _age(crm: Any, key: str) -> None:
    crm.session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.key == key)
        .values(created_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=61))
    )
    crm.session.commit()


def test_a_creation_committed_before_its_process_died_is_not_repeated(
    api: Any, crm: Any, monkeypatch: Any
) -> None:
    headers = {"Idempotency-Key": "died-after-commit"}
    body = {"last_name": "Orphaned", "email": "orphaned@example.com"}
    with monkeypatch.context() as patch:
        _die_before_answering(patch)
        first = api.post("/api/v1/contacts", json=body, headers=headers)
    assert first.status_code == 201
    key = headers["Idempotency-Key"]
    row = crm.session.scalar(select(IdempotencyKey).where(IdempotencyKey.key == key))
    assert row.status is None and row.committed_at is not None
    assert row.record == f"contacts:{first.json['id']}"
    _age(crm, headers["Idempotency-Key"])
    again = api.post("/api/v1/contacts", json=body, headers=headers)
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json["id"] == first.json["id"]
    assert again.headers["Location"].endswith(f"/api/v1/contacts/{first.json['id']}")
    assert contacts_named(crm, "Orphaned") == 1
    # the answer is kept from then on
    third = api.post("/api/v1/contacts", json=body, headers=headers)
    assert third.json == again.json and contacts_named(crm, "Orphaned") == 1


def test_an_action_committed_before_its_process_died_is_not_repeated(
    api: Any, crm: Any, records: Any, monkeypatch: Any
) -> None:
    contact = records.create("contacts", {"last_name": "Restored once"})
    records.delete("contacts", contact)
    headers = {"Idempotency-Key": "restore-died"}
    with monkeypatch.context() as patch:
        _die_before_answering(patch)
        assert (
            api.post(f"/api/v1/contacts/{contact.id}/restore", headers=headers).status_code == 200
        )
    records.delete("contacts", records.get("contacts", contact.id))
    _age(crm, headers["Idempotency-Key"])
    again = api.post(f"/api/v1/contacts/{contact.id}/restore", headers=headers)
    assert again.status_code == 409
    assert "carried out" in again.json["detail"]
    assert again.headers["Idempotent-Replayed"] == "true"
    crm.session.rollback()
    assert crm.session.get(Contact, contact.id).deleted_at is not None


def test_a_request_that_died_before_committing_is_run_again(
    api: Any, crm: Any, monkeypatch: Any
) -> None:
    headers = {"Idempotency-Key": "died-before-commit"}
    body = {"last_name": "Refused", "email": "not an address"}
    with monkeypatch.context() as patch:
        _die_before_answering(patch)
        assert api.post("/api/v1/contacts", json=body, headers=headers).status_code == 422
    _age(crm, headers["Idempotency-Key"])
    again = api.post("/api/v1/contacts", json=body, headers=headers)
    assert again.status_code == 422
    assert "Idempotent-Replayed" not in again.headers
