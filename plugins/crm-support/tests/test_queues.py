"""Queues: assignment rules, manual reassignment, the triage page and its script."""

from __future__ import annotations

import pytest
from support_testing import csrf_of

pytestmark = pytest.mark.crm_plugins("support")


def test_round_robin_takes_turns(records, make_user):
    a, b, c = (make_user("support_agent") for _ in range(3))
    queue = records.create(
        "support_queues",
        {"name": "RR", "assignment": "round_robin", "member_ids": [c.id, a.id, b.id]},
    )
    got = [
        records.create("tickets", {"subject": str(n), "queue_id": queue.id}).assignee_id
        for n in range(4)
    ]
    assert got == [a.id, b.id, c.id, a.id]


def test_least_open_picks_the_lightest_load(records, make_user):
    a, b = make_user("support_agent"), make_user("support_agent")
    queue = records.create(
        "support_queues", {"name": "LO", "assignment": "least_open", "member_ids": [a.id, b.id]}
    )
    records.create("tickets", {"subject": "busy", "assignee_id": a.id})
    records.create("tickets", {"subject": "done", "assignee_id": b.id, "status": "solved"})
    assert records.create("tickets", {"subject": "n", "queue_id": queue.id}).assignee_id == b.id
    assert records.create("tickets", {"subject": "m", "queue_id": queue.id}).assignee_id in (
        a.id,
        b.id,
    )


def test_inactive_members_are_skipped_and_manual_queues_assign_nobody(records, make_user):
    a, b = make_user("support_agent"), make_user("support_agent")
    records.update("users", b, {"active": False})
    rr = records.create(
        "support_queues", {"name": "RR2", "assignment": "round_robin", "member_ids": [a.id, b.id]}
    )
    manual = records.create("support_queues", {"name": "M", "member_ids": [a.id]})
    assert {
        records.create("tickets", {"subject": "x", "queue_id": rr.id}).assignee_id for _ in range(2)
    } == {a.id}
    assert records.create("tickets", {"subject": "y", "queue_id": manual.id}).assignee_id is None


def test_queue_input_is_checked(api):
    r = api.post("/api/v1/support_queues", json={"name": "Q", "member_ids": [999999]})
    assert r.status_code == 422 and "member_ids" in r.get_json()["errors"]
    assert (
        api.post("/api/v1/support_queues", json={"name": "D1", "is_default": True}).status_code
        == 201
    )
    r = api.post("/api/v1/support_queues", json={"name": "D2", "is_default": True})
    assert r.status_code == 422
    r = api.post("/api/v1/support_queues", json={"name": "P", "imap_password": "s3cret"})
    assert "imap_password" not in r.get_json()


def test_manual_reassignment_by_patch(api, make_user):
    agent = make_user("support_agent")
    ticket = api.post("/api/v1/tickets", json={"subject": "x"}).get_json()
    r = api.patch(f"/api/v1/tickets/{ticket['id']}", json={"assignee_id": agent.id})
    assert r.status_code == 200 and r.get_json()["assignee_id"] == agent.id


def test_triage_page_assign_and_solve(web_as, make_user, records, desk):
    agent = desk["agents"][0]
    ticket = records.create("tickets", {"subject": "Triage me <b>", "assignee_id": None})
    client = web_as(agent)
    page = client.get("/support/queue")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Triage me &lt;b&gt;" in html and "data-triage-row" in html
    assert "/support/static/support/triage.js" in html
    assert "<script>" not in html and "onclick" not in html
    token = csrf_of(html)
    r = client.post(
        f"/support/queue/{ticket.id}/assign", data={"csrf_token": token, "next": "/support/queue"}
    )
    assert r.status_code == 303 and r.headers["Location"] == "/support/queue"
    assert records.get("tickets", ticket.id).assignee_id == agent.id
    assert client.post(f"/support/queue/{ticket.id}/solve").status_code == 400  # no CSRF
    client.post(f"/support/queue/{ticket.id}/solve", data={"csrf_token": token})
    assert records.get("tickets", ticket.id).status == "solved"
    js = client.get("/support/static/support/triage.js")
    assert js.status_code == 200 and b'"j"' in js.data and b'"s"' in js.data


def test_queue_view_respects_scopes(web_as, make_user, records):
    rep = make_user("sales_rep")
    records.create("tickets", {"subject": "Not yours", "assignee_id": None})
    records.create("tickets", {"subject": "Yours", "assignee_id": rep.id})
    html = web_as(rep).get("/support/queue").get_data(as_text=True)
    assert "Yours" in html and "Not yours" not in html
    assert "data-triage-solve" not in html  # read-only grant: no triage buttons


def test_queue_names_are_shown_only_to_those_who_may_read_queues(web_as, make_user, records):
    records.create("support_queues", {"name": "Secret escalations"})
    rep, agent = make_user("sales_rep"), make_user("support_agent")
    records.create("tickets", {"subject": "Yours", "assignee_id": rep.id})
    html = web_as(rep).get("/support/queue").get_data(as_text=True)
    assert "Yours" in html and "Secret escalations" not in html
    assert 'id="queue-filter"' not in html
    assert web_as(rep).get("/api/v1/support_queues").status_code in (302, 401, 403)
    html = web_as(agent).get("/support/queue").get_data(as_text=True)
    assert "Secret escalations" in html and 'id="queue-filter"' in html


def test_ticket_page_shows_thread_panel_and_replies(web_as, records, desk, make_contact, outbox):
    agent = desk["agents"][0]
    contact = make_contact(email="zoe@customer.example")
    ticket = records.create("tickets", {"subject": "Panel", "contact_id": contact.id})
    client = web_as(agent)
    html = client.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    assert "Conversation" in html and 'name="body"' in html
    r = client.post(
        f"/support/tickets/{ticket.id}/reply",
        data={"csrf_token": csrf_of(html), "body": "Hi Zoe", "public": "1"},
    )
    assert r.status_code == 303
    assert len(outbox.to("zoe@customer.example")) == 1
    html = client.get(f"/contacts/{contact.id}").get_data(as_text=True)
    assert ticket.number in html
