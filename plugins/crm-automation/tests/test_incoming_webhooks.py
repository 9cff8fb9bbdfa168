"""The incoming-webhook trigger: the secret URL (made, shown once, rotated), the public endpoint
(bad bodies, unknown tokens, inactive rules, the rate limit), the record lookup in the owner's
scope, create-from-payload, the payload in templates, idempotency and the run history."""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from crm_automation import incoming
from crm_automation.models import AutomationRun, AutomationWorkflow

pytestmark = [
    pytest.mark.crm_plugins("automation", "autotest"),
    pytest.mark.usefixtures("immediate_jobs"),
]

TASK = [
    {"type": "add_tags", "tags": ["lead"]},
    {"type": "create_task", "title": "Call {{ payload.name }} about {{ payload.topic }}"},
]


def make_hook_rule(api: Any, **trigger: Any) -> tuple[dict[str, Any], str]:
    """A rule with the incoming trigger made through the API: its JSON and its URL's path."""
    body = {"name": "Form leads", "entity": "contacts", "actions": TASK,
            "trigger": {"type": "incoming_webhook", "match_field": "email", **trigger}}  # fmt: skip
    r = api.post("/api/v1/workflows", json=body)
    assert r.status_code == 201, r.get_json()
    made = r.get_json()
    return made, urlsplit(made["hook_url"]).path


def post(client: Any, path: str, payload: Any, **headers: str) -> Any:
    return client.post(path, data=json.dumps(payload), content_type="application/json",
                       headers=headers)  # fmt: skip


def fresh(crm: Any, record: Any) -> Any:
    crm.session.expire_all()
    return crm.session.get(type(record), record.id)


def test_the_url_is_answered_once_and_only_its_hash_is_kept(api, crm):
    made, path = make_hook_rule(api)
    token = path.rsplit("/", 1)[1]
    assert path.startswith("/automation/hooks/") and len(token) >= 40
    assert made["hook_url"].startswith("http")
    again = api.get(f"/api/v1/workflows/{made['id']}").get_json()
    assert again["hook_url"] is None
    rule = crm.session.get(AutomationWorkflow, made["id"])
    assert rule.token_hash == hashlib.sha256(token.encode()).hexdigest()
    history = json.dumps(api.get(f"/api/v1/workflows/{made['id']}/history").get_json())
    assert token not in history and rule.token_hash not in history


def test_a_post_fires_the_rule_on_the_looked_up_record_with_the_payload(
    api, client, crm, make_contact, runs
):
    contact = make_contact(email="Ann@Example.com")
    made, path = make_hook_rule(api)
    r = post(client, path, {"email": "ann@example.COM", "name": "Ann", "topic": "pricing"})
    assert r.status_code == 202, r.get_json()
    answer = r.get_json()
    assert answer["record"] == {"entity": "contacts", "id": contact.id, "created": False}
    assert fresh(crm, contact).tags == ["lead"]
    rule = crm.session.get(AutomationWorkflow, made["id"])
    [run] = runs(rule)
    assert (run.id, run.status, run.trigger, run.record_id) == (
        answer["run"], "done", "incoming_webhook", contact.id)  # fmt: skip
    assert run.payload["topic"] == "pricing"
    from crmcore.activities.models import Task

    task = crm.session.scalar(select(Task).where(Task.record_id == contact.id))
    assert task.title == "Call Ann about pricing"


def test_no_session_and_no_csrf_token_are_needed_but_other_pages_keep_csrf(
    api, client, crm, make_contact, web
):
    make_contact(email="b@example.com")
    made, path = make_hook_rule(api)
    assert (
        post(client, path, {"email": "b@example.com", "name": "B", "topic": "x"}).status_code == 202
    )
    # the rule's other POSTs are still CSRF-protected
    r = web.post(f"/automation/rules/{made['id']}/hook-url")
    assert r.status_code == 400


def test_rotation_makes_a_new_url_and_the_old_one_stops_working(api, client, make_contact):
    make_contact(email="c@example.com")
    made, old = make_hook_rule(api)
    r = api.patch(
        f"/api/v1/workflows/{made['id']}",
        json={"rotate_hook_url": True},
        headers={"If-Match": api.get(f"/api/v1/workflows/{made['id']}").headers["ETag"]},
    )
    assert r.status_code == 200, r.get_json()
    new = urlsplit(r.get_json()["hook_url"]).path
    assert new != old
    payload = {"email": "c@example.com", "name": "C", "topic": "t"}
    gone = post(client, old, payload)
    unknown = post(client, "/automation/hooks/" + "x" * 43, payload)
    assert gone.status_code == unknown.status_code == 404
    assert gone.mimetype == "application/problem+json"
    strip = lambda r: {k: v for k, v in r.get_json().items() if k != "instance"}  # noqa: E731
    assert strip(gone) == strip(unknown)  # nothing tells a rotated URL from one never made
    assert post(client, new, payload).status_code == 202


def test_bad_requests_get_problems(api, client, runs, crm):
    made, path = make_hook_rule(api)
    wrong_type = client.post(
        path, data="email=a@b.c", content_type="application/x-www-form-urlencoded"
    )
    assert wrong_type.status_code == 415 and wrong_type.mimetype == "application/problem+json"
    bad = client.post(path, data="{not json", content_type="application/json")
    assert bad.status_code == 400 and "JSON" in bad.get_json()["detail"]
    array = post(client, path, [1, 2])
    assert array.status_code == 400 and "object" in array.get_json()["detail"]
    big = post(client, path, {"email": "a@example.com", "pad": "x" * incoming.MAX_BODY})
    assert big.status_code == 413 and big.mimetype == "application/problem+json"
    latin = client.post(path, data=b'{"a": "\xff"}', content_type="application/json")
    assert latin.status_code == 400
    assert client.get(path).status_code == 405
    assert runs(crm.session.get(AutomationWorkflow, made["id"])) == []


def test_an_inactive_rule_answers_409(api, client, make_contact):
    make_contact(email="d@example.com")
    made, path = make_hook_rule(api, create=False)
    etag = api.get(f"/api/v1/workflows/{made['id']}").headers["ETag"]
    assert api.patch(f"/api/v1/workflows/{made['id']}", json={"active": False},
                     headers={"If-Match": etag}).status_code == 200  # fmt: skip
    r = post(client, path, {"email": "d@example.com"})
    assert r.status_code == 409 and r.mimetype == "application/problem+json"


def test_a_retried_delivery_runs_once(api, client, crm, make_contact, runs):
    contact = make_contact(email="e@example.com")
    made, path = make_hook_rule(api)
    payload = {"email": "e@example.com", "name": "E", "topic": "t"}
    first = post(client, path, payload, **{"Idempotency-Key": "evt-1"})
    again = post(client, path, payload, **{"Idempotency-Key": "evt-1"})
    assert first.status_code == 202 and again.status_code == 200
    assert (
        again.get_json()["duplicate"] is True and again.get_json()["run"] == first.get_json()["run"]
    )
    by_event = post(client, path, payload, **{"X-Event-Id": "evt-2"})
    by_event_again = post(client, path, payload, **{"X-Event-Id": "evt-2"})
    assert by_event.status_code == 202 and by_event_again.status_code == 200
    assert len(runs(crm.session.get(AutomationWorkflow, made["id"]))) == 2
    from crmcore.activities.models import Task

    tasks = crm.session.scalars(select(Task).where(Task.record_id == contact.id)).all()
    assert len(tasks) == 2


def test_no_match_records_a_skipped_run(api, client, crm, runs):
    made, path = make_hook_rule(api)
    r = post(client, path, {"email": "nobody@example.com"})
    assert r.status_code == 202
    assert r.get_json()["status"] == "skipped" and "No record" in r.get_json()["note"]
    [run] = runs(crm.session.get(AutomationWorkflow, made["id"]))
    assert (run.status, run.record_id) == ("skipped", 0)


def test_create_from_payload_as_the_owner_once_per_delivery(api, client, crm, admin, runs):
    from crmcore.contacts.models import Contact

    made, path = make_hook_rule(api, create=True)
    payload = {"email": "new@example.com", "first_name": "Nia", "last_name": "New",
               "owner_id": 999, "id": 5, "unknown": "ignored", "name": "Nia",
               "topic": "demo"}  # fmt: skip
    first = post(client, path, payload, **{"Idempotency-Key": "form-1"})
    assert first.status_code == 202, first.get_json()
    assert first.get_json()["record"]["created"] is True
    assert post(client, path, payload, **{"Idempotency-Key": "form-1"}).status_code == 200
    found = crm.session.scalars(select(Contact).where(Contact.email == "new@example.com")).all()
    assert len(found) == 1
    assert (found[0].first_name, found[0].owner_id, found[0].tags) == ("Nia", admin.id, ["lead"])
    # a payload that makes no valid record: 422 naming the field, and a skipped run
    bad = post(client, path, {"email": "not an address"})
    assert bad.status_code == 422 and "email" in bad.get_json()["errors"]
    statuses = [r.status for r in runs(crm.session.get(AutomationWorkflow, made["id"]))]
    assert statuses == ["done", "skipped"]


def test_the_lookup_stays_in_the_owner_s_scope(api_as, client, crm, make_user, make_contact, runs):
    rep = make_user("sales_rep")
    other = make_user("sales_rep")
    theirs = make_contact(email="theirs@example.com", owner_id=other.id)
    mine = make_contact(email="mine@example.com", owner_id=rep.id)
    _made, path = make_hook_rule(api_as(rep))
    assert post(client, path, {"email": "theirs@example.com"}).get_json()["status"] == "skipped"
    assert fresh(crm, theirs).tags == []
    assert post(client, path, {"email": "mine@example.com", "name": "M", "topic": "t"}
                ).get_json()["record"]["id"] == mine.id  # fmt: skip


def test_conditions_and_nested_payload_keys(api, client, crm, make_contact, runs):
    hit = make_contact(email="f@example.com", last_name="Match")
    make_contact(email="g@example.com", last_name="Other")
    body = {"name": "Nested", "entity": "contacts", "conditions": "last_name=Match",
            "actions": [{"type": "add_tags", "tags": ["{{ payload.contact.email }}"]}],
            "trigger": {"type": "incoming_webhook", "match_field": "email",
                        "payload_key": "contact.email"}}  # fmt: skip
    made = api.post("/api/v1/workflows", json=body).get_json()
    path = urlsplit(made["hook_url"]).path
    assert (
        post(client, path, {"contact": {"email": "g@example.com"}}).get_json()["status"]
        == "skipped"
    )
    assert post(client, path, {"contact": {"email": "f@example.com"}}).status_code == 202
    assert fresh(crm, hit).tags == ["{{ payload.contact.email }}"]  # tags are not templates
    assert [r.status for r in runs(crm.session.get(AutomationWorkflow, made["id"]))] == [
        "skipped", "done"]  # fmt: skip


def test_the_rate_limit_per_url_answers_429_with_retry_after(api, client, monkeypatch):
    monkeypatch.setattr(incoming, "RATE", "2 per minute")
    _made, path = make_hook_rule(api)
    _other, other_path = make_hook_rule(api)
    assert post(client, path, {"email": "x@example.com"}).status_code == 202
    assert post(client, path, {"email": "x@example.com"}).status_code == 202
    limited = post(client, path, {"email": "x@example.com"})
    assert limited.status_code == 429 and limited.mimetype == "application/problem+json"
    assert 1 <= int(limited.headers["Retry-After"]) <= 61
    assert post(client, other_path, {"email": "x@example.com"}).status_code == 202  # per URL


def test_bad_trigger_settings_are_refused_naming_them(api):
    def make(trigger: dict[str, Any]) -> Any:
        return api.post("/api/v1/workflows", json={
            "name": "Bad", "entity": "contacts", "actions": TASK,
            "trigger": {"type": "incoming_webhook", **trigger}})  # fmt: skip

    r = make({"match_field": "shoe_size"})
    assert r.status_code == 422 and "shoe_size" in json.dumps(r.get_json())
    r = make({})
    assert r.status_code == 422 and "create records from the payload" in json.dumps(r.get_json())
    r = make({"match_field": "email", "create": "yes"})
    assert r.status_code == 422


def test_changing_the_trigger_drops_the_url(api, client, crm):
    made, path = make_hook_rule(api)
    etag = api.get(f"/api/v1/workflows/{made['id']}").headers["ETag"]
    r = api.patch(f"/api/v1/workflows/{made['id']}", json={"trigger": {"type": "created"}},
                  headers={"If-Match": etag})  # fmt: skip
    assert r.status_code == 200 and r.get_json()["hook_url"] is None
    assert post(client, path, {"email": "a@example.com"}).status_code == 404
    crm.session.expire_all()
    assert crm.session.get(AutomationWorkflow, made["id"]).token_hash is None


def test_a_trashed_rule_answers_404(api, client):
    made, path = make_hook_rule(api)
    assert api.delete(f"/api/v1/workflows/{made['id']}").status_code == 204
    assert post(client, path, {"email": "a@example.com"}).status_code == 404


def test_runs_appear_in_the_rule_s_history_page(api, client, web, make_contact):
    contact = make_contact(email="h@example.com")
    made, path = make_hook_rule(api)
    post(client, path, {"email": "h@example.com", "name": "H", "topic": "t"})
    post(client, path, {"email": "missing@example.com"})
    page = web.get(f"/automation/rules/{made['id']}").get_data(as_text=True)
    assert f"/contacts/{contact.id}" in page
    assert "No record matches the payload." in page
    assert made["hook_url"] not in page  # shown once: not on a later visit
    assert "Make a new URL" in page


def test_the_page_shows_a_new_url_once_and_rotation_works(api, web, client, crm):
    made, old = make_hook_rule(api)
    import re

    page = web.get(f"/automation/rules/{made['id']}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = web.post(f"/automation/rules/{made['id']}/hook-url", data={"csrf_token": token})
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    url = re.search(r'id="hook-url-value" class="secret-value" readonly value="([^"]+)"', html)
    assert url is not None
    new = urlsplit(url.group(1)).path
    assert new != old
    assert post(client, old, {"email": "a@example.com"}).status_code == 404
    assert post(client, new, {"email": "a@example.com"}).status_code == 202
    assert crm.session.scalar(select(AutomationRun.id).limit(1)) is not None


def test_a_rule_whose_owner_is_deactivated_answers_409(api_as, client, crm, make_user):
    rep = make_user("sales_rep")
    _made, path = make_hook_rule(api_as(rep))
    crm.records().update("users", rep, {"active": False})
    r = post(client, path, {"email": "a@example.com"})
    assert r.status_code == 409 and "owner" in r.get_json()["detail"]
