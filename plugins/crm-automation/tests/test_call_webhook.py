"""The call-webhook action: refused URLs when saved, a signed POST of the record through the
webhook delivery machinery (SSRF guard on each hop, retries, delivery log), the rule's
signing secret answered once and rotatable."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from sqlalchemy import select

from crm_automation.models import AutomationWorkflow
from crm_automation.webhooks import delivery as delivery_mod
from crm_automation.webhooks import signing
from crm_automation.webhooks.models import AutomationWebhookAttempt, AutomationWebhookDelivery

pytestmark = [
    pytest.mark.crm_plugins("automation", "autotest"),
    pytest.mark.usefixtures("immediate_jobs"),
]


def call(url: str, **fields: str) -> list[dict[str, Any]]:
    return [{"type": "call_webhook", "url": url, "fields": fields}]


def rule_via_api(api: Any, url: str, **fields: str) -> dict[str, Any]:
    r = api.post("/api/v1/workflows", json={"name": "Chat", "entity": "contacts",
                                            "trigger": {"type": "created"},
                                            "actions": call(url, **fields)})  # fmt: skip
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def deliveries(crm: Any) -> list[AutomationWebhookDelivery]:
    crm.session.expire_all()
    return list(crm.session.scalars(select(AutomationWebhookDelivery)
                                    .order_by(AutomationWebhookDelivery.id)))  # fmt: skip


@pytest.mark.parametrize("url", ["http://127.0.0.1/hook", "http://2130706433/", "http://10.1.2.3/",
                                 "http://[::ffff:127.0.0.1]/", "http://169.254.169.254/latest",
                                 "file:///etc/passwd", "http://user:pw@example.com/"])  # fmt: skip
def test_a_refused_url_is_refused_when_saved_naming_it(api, url):
    r = api.post("/api/v1/workflows", json={"name": "Bad", "entity": "contacts",
                                            "trigger": {"type": "created"},
                                            "actions": call(url)})  # fmt: skip
    assert r.status_code == 422
    text = json.dumps(r.get_json())
    assert "Action 1 (call_webhook)" in text and "is refused" in text
    assert url.split("//")[1].split("/")[0].split("@")[-1][:8] in text


def test_a_template_that_does_not_compile_is_refused(api, allow_hosts, receiver):
    allow_hosts("127.0.0.1")
    bad = call(receiver.url, text="{{ x")
    r = api.post("/api/v1/workflows", json={"name": "Bad", "entity": "contacts",
                                            "trigger": {"type": "created"},
                                            "actions": bad})  # fmt: skip
    assert r.status_code == 422 and "field text" in json.dumps(r.get_json())


def test_the_record_is_posted_signed_with_the_rule_s_secret(api, allow_hosts, receiver, crm,
                                                           make_contact, runs):  # fmt: skip
    allow_hosts("127.0.0.1")
    made = rule_via_api(api, receiver.url, text="New contact {{ record.first_name }}")
    secret = made["signing_secret"]
    assert secret.startswith("whsec_")
    assert api.get(f"/api/v1/workflows/{made['id']}").get_json()["signing_secret"] is None
    history = json.dumps(api.get(f"/api/v1/workflows/{made['id']}/history").get_json())
    assert secret not in history
    contact = make_contact(first_name="Zoe")
    [request] = receiver.requests
    body = json.loads(request.body)
    rule = crm.session.get(AutomationWorkflow, made["id"])
    [run] = runs(rule)
    assert body["type"] == "workflow.call_webhook"
    assert body["rule"] == {"id": made["id"], "name": "Chat"} and body["run"] == run.id
    assert body["record"]["id"] == contact.id and body["record"]["first_name"] == "Zoe"
    assert body["fields"] == {"text": "New contact Zoe"}
    headers = {k.lower(): v for k, v in request.headers.items()}
    assert signing.verify(secret, request.body, headers["x-crm-timestamp"],
                          headers["x-crm-signature"])  # fmt: skip
    assert not signing.verify("whsec_other", request.body, headers["x-crm-timestamp"],
                              headers["x-crm-signature"])  # fmt: skip
    assert run.status == "done" and run.results[0]["result"].startswith("Delivered")
    [delivery] = deliveries(crm)
    assert (delivery.workflow_id, delivery.webhook_id, delivery.state) == (rule.id, None,
                                                                           "delivered")  # fmt: skip
    assert headers["x-crm-delivery"] == delivery.delivery_id


def test_rotating_the_secret_signs_with_the_new_one(api, allow_hosts, receiver, make_contact):
    allow_hosts("127.0.0.1")
    made = rule_via_api(api, receiver.url)
    etag = api.get(f"/api/v1/workflows/{made['id']}").headers["ETag"]
    r = api.patch(f"/api/v1/workflows/{made['id']}", json={"rotate_signing_secret": True},
                  headers={"If-Match": etag})  # fmt: skip
    new = r.get_json()["signing_secret"]
    assert new and new != made["signing_secret"]
    make_contact()
    request = receiver.requests[-1]
    headers = {k.lower(): v for k, v in request.headers.items()}
    assert signing.verify(new, request.body, headers["x-crm-timestamp"], headers["x-crm-signature"])
    assert not signing.verify(made["signing_secret"], request.body, headers["x-crm-timestamp"],
                              headers["x-crm-signature"])  # fmt: skip


def test_a_failure_is_retried_with_backoff_and_logged(api, allow_hosts, receiver, crm,
                                                     make_contact, runs):  # fmt: skip
    allow_hosts("127.0.0.1")
    made = rule_via_api(api, receiver.url)
    receiver.status = 503
    make_contact()
    [delivery] = deliveries(crm)
    assert delivery.state == "pending" and delivery.attempts == 1
    assert delivery.next_attempt_at > dt.datetime.now(dt.UTC)
    [run] = runs(crm.session.get(AutomationWorkflow, made["id"]))
    assert run.results[0]["status"] == "done"
    assert run.results[0]["result"].startswith("Not delivered yet")
    receiver.status = 200
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
    assert delivery_mod.deliver(crm, crm.session, delivery.id, now=later) == "delivered"
    attempts = crm.session.scalars(select(AutomationWebhookAttempt).where(
        AutomationWebhookAttempt.delivery_id == delivery.id)).all()  # fmt: skip
    assert [a.status_code for a in attempts] == [503, 200]
    assert len(receiver.requests) == 2
    assert receiver.requests[0].headers["X-CRM-Delivery"] == receiver.requests[1].headers[
        "X-CRM-Delivery"]  # fmt: skip


def test_a_redirect_to_a_refused_address_is_not_followed(api, allow_hosts, receiver, crm,
                                                        make_contact):  # fmt: skip
    allow_hosts("127.0.0.1")
    rule_via_api(api, receiver.url)
    receiver.answers = [(302, f"http://localhost:{receiver.port}/elsewhere")]
    make_contact()
    assert len(receiver.requests) == 1  # the hop to localhost (not allow-listed) is refused
    [delivery] = deliveries(crm)
    attempt = crm.session.scalar(select(AutomationWebhookAttempt).where(
        AutomationWebhookAttempt.delivery_id == delivery.id))  # fmt: skip
    assert "Refused" in attempt.error and delivery.state == "pending"


def test_an_address_refused_after_saving_is_not_called(api, allow_hosts, receiver, crm,
                                                      make_contact):  # fmt: skip
    allow_hosts("127.0.0.1")
    rule_via_api(api, receiver.url)
    allow_hosts()
    make_contact()
    assert receiver.requests == []
    [delivery] = deliveries(crm)
    attempt = crm.session.scalar(select(AutomationWebhookAttempt).where(
        AutomationWebhookAttempt.delivery_id == delivery.id))  # fmt: skip
    assert "Refused" in attempt.error


def test_the_record_is_what_the_rule_s_owner_may_read(api_as, make_user, allow_hosts, receiver,
                                                     make_contact, records, crm):  # fmt: skip
    allow_hosts("127.0.0.1")
    rep = make_user("sales_rep")
    rule_via_api(api_as(rep), receiver.url)
    make_contact(first_name="NotTheirs")  # owned by someone else: out of the owner's scope
    assert receiver.requests == []
    make_contact(first_name="Theirs", owner_id=rep.id)
    [request] = receiver.requests
    assert json.loads(request.body)["record"]["first_name"] == "Theirs"


def test_an_incoming_payload_is_passed_on(api, client, allow_hosts, receiver, make_contact):
    from urllib.parse import urlsplit

    allow_hosts("127.0.0.1")
    make_contact(email="lead@example.com")
    r = api.post("/api/v1/workflows", json={
        "name": "Relay", "entity": "contacts",
        "trigger": {"type": "incoming_webhook", "match_field": "email"},
        "actions": call(receiver.url, text="{{ payload.message }} from {{ record.email }}"),
    })  # fmt: skip
    path = urlsplit(r.get_json()["hook_url"]).path
    answer = client.post(path, json={"email": "lead@example.com", "message": "Hello"})
    assert answer.status_code == 202
    body = json.loads(receiver.requests[-1].body)
    assert body["fields"]["text"] == "Hello from lead@example.com"
    assert body["payload"]["message"] == "Hello"


def test_the_rule_page_shows_the_secret_and_the_delivery_log(api, web, allow_hosts, receiver,
                                                            make_contact):  # fmt: skip
    allow_hosts("127.0.0.1")
    made = rule_via_api(api, receiver.url)
    make_contact()
    page = web.get(f"/automation/rules/{made['id']}").get_data(as_text=True)
    assert made["signing_secret"] in page  # on demand, for those who may change the rule
    assert receiver.url in page and "Delivered" in page
    assert "Rotate the signing secret" in page


def test_the_sample_receiver_verifies_the_call(api, allow_hosts, make_contact, crm):
    """``examples/webhook-receiver`` refuses the call while it holds another secret (401: the
    delivery is retried) and accepts the retry once it holds the rule's secret."""
    import importlib.util
    import threading
    from pathlib import Path

    path = Path(__file__).resolve().parents[3] / "examples" / "webhook-receiver" / "receiver.py"
    spec = importlib.util.spec_from_file_location("receiver_example_for_calls", path)
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    server = example.Receiver(("127.0.0.1", 0), "whsec_another", on_event=lambda e: None)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        allow_hosts("127.0.0.1")
        made = rule_via_api(api, f"http://127.0.0.1:{server.server_address[1]}/crm",
                            text="Hello {{ record.first_name }}")  # fmt: skip
        make_contact(first_name="Lia")
        assert server.refused == 1 and server.accepted == []
        [delivery] = deliveries(crm)
        assert delivery.state == "pending"
        server.secret = made["signing_secret"]
        later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
        assert delivery_mod.deliver(crm, crm.session, delivery.id, now=later) == "delivered"
        assert [e["fields"]["text"] for e in server.accepted] == ["Hello Lia"]
    finally:
        server.shutdown()
        server.server_close()
