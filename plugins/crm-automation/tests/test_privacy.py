"""The automation plugin's part of a person's data (``crm_person_data``): webhook deliveries
carrying the person (pending ones are never sent after an erasure) and run history naming them."""

from __future__ import annotations

import json
import zipfile
from typing import Any

import pytest
from sqlalchemy import func, select

from crm_automation.models import AutomationRun
from crm_automation.webhooks.models import AutomationWebhookAttempt, AutomationWebhookDelivery

pytestmark = pytest.mark.crm_plugins("automation")

EMAIL = "nerea@example.org"


def test_deliveries_and_runs_naming_the_person_are_exported_then_erased(
    crm: Any, records: Any, cli: Any, allow_hosts: Any, make_webhook: Any, make_rule: Any,
    tmp_path: Any,
) -> None:  # fmt: skip
    allow_hosts("127.0.0.1")
    make_webhook("http://127.0.0.1:9/hook")  # nothing listens: deliveries stay pending
    make_rule({"type": "created"}, [{"type": "add_tags", "tags": ["welcomed"]}])
    person = records.create("contacts", {"first_name": "Nerea", "last_name": "Olaizola",
                                         "email": EMAIL})  # fmt: skip
    other = records.create("contacts", {"first_name": "Ana", "email": "ana@example.org"})
    session = crm.session
    session.expire_all()
    mine = session.scalars(
        select(AutomationWebhookDelivery).where(AutomationWebhookDelivery.record_id == person.id)
    ).all()
    assert mine and EMAIL in mine[0].body
    session.add(AutomationWebhookAttempt(delivery_id=mine[0].id, number=1,
                                         response_excerpt=f"ok {EMAIL}"))  # fmt: skip
    session.commit()

    out = tmp_path / "nerea.zip"
    assert cli("people", "export", EMAIL, "-o", str(out)).exit_code == 0
    with zipfile.ZipFile(out) as archive:
        deliveries = json.loads(archive.read("data/automation.webhook_deliveries.json"))["rows"]
    assert {d["record_id"] for d in deliveries} == {person.id}

    assert cli("people", "erase", EMAIL, "--yes").exit_code == 0
    session.expire_all()
    left = session.scalars(select(AutomationWebhookDelivery.body)).all()
    assert left and all(EMAIL not in body and "Olaizola" not in body for body in left)
    assert any("ana@example.org" in body for body in left)  # other people's stay
    attempts = session.scalar(select(func.count()).select_from(AutomationWebhookAttempt))
    assert attempts == 0
    for run in session.scalars(select(AutomationRun)):
        assert EMAIL not in json.dumps(run.results) and "Olaizola" not in run.note
    assert other.id in {d for d in session.scalars(select(AutomationWebhookDelivery.record_id))}


def test_an_incoming_payload_naming_the_person_is_pseudonymised(
    crm: Any, api: Any, client: Any, cli: Any, make_contact: Any
) -> None:
    from urllib.parse import urlsplit

    make_contact(first_name="Nerea", last_name="Olaizola", email=EMAIL)
    made = api.post("/api/v1/workflows", json={
        "name": "Form", "entity": "contacts", "actions": [{"type": "add_tags", "tags": ["x"]}],
        "trigger": {"type": "incoming_webhook", "match_field": "email"}}).get_json()  # fmt: skip
    path = urlsplit(made["hook_url"]).path
    sent = client.post(path, json={"email": EMAIL, "message": "Call Nerea Olaizola"})
    assert sent.status_code == 202
    assert cli("people", "erase", EMAIL, "--yes").exit_code == 0
    crm.session.expire_all()
    [run] = crm.session.scalars(select(AutomationRun)).all()
    assert run.payload and EMAIL not in json.dumps(run.payload)
    assert "Olaizola" not in json.dumps(run.payload)
