"""Tickets through the API: numbering, the thread, merging, permissions, disabling."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.crm_plugins("support")


def test_tickets_get_unique_sequential_numbers(api, desk, make_contact):
    contact = make_contact()
    numbers = []
    for n in range(3):
        r = api.post("/api/v1/tickets", json={"subject": f"Broken {n}", "contact_id": contact.id})
        assert r.status_code == 201, r.get_json()
        numbers.append(r.get_json()["number"])
    assert all(re.fullmatch(r"T-\d{6}", n) for n in numbers)
    values = [int(n[2:]) for n in numbers]
    assert values == sorted(values) and len(set(values)) == 3
    body = r.get_json()
    assert body["status"] == "new" and body["priority"] == "normal"
    assert body["queue_id"] == desk["queue"].id
    assert body["sla_status"] == "ok" and body["resolution_due_at"]


def test_number_cannot_be_set_and_choices_are_checked(api):
    r = api.post("/api/v1/tickets", json={"subject": "x", "number": "T-999999"})
    assert r.status_code == 422 and "number" in r.get_json()["errors"]
    r = api.post("/api/v1/tickets", json={"subject": "x", "status": "burning"})
    assert r.status_code == 422 and "status" in r.get_json()["errors"]
    r = api.post("/api/v1/tickets", json={"subject": "x", "contact_id": 999999})
    assert r.status_code == 422 and "contact_id" in r.get_json()["errors"]


def test_ticket_takes_the_contacts_company(api, make_company, make_contact):
    company = make_company()
    contact = make_contact(company_id=company.id)
    r = api.post("/api/v1/tickets", json={"subject": "x", "contact_id": contact.id})
    assert r.get_json()["company_id"] == company.id


def test_public_reply_is_mailed_with_reference_and_threading(api, make_contact, outbox):
    contact = make_contact(email="ana@customer.example")
    ticket = api.post("/api/v1/tickets", json={"subject": "Printer", "contact_id": contact.id})
    ticket = ticket.get_json()
    url = f"/api/v1/tickets/{ticket['id']}/messages"
    first = api.post(url, json={"body": "We are on it.", "public": True})
    assert first.status_code == 201, first.get_json()
    second = api.post(url, json={"body": "Fixed, please check.", "status": "pending"})
    mails = outbox.to("ana@customer.example")
    assert len(mails) == 2
    assert mails[0]["Subject"] == f"[{ticket['number']}] Printer"
    assert mails[0]["Message-ID"] == first.get_json()["mail_message_id"]
    assert mails[1]["In-Reply-To"] == first.get_json()["mail_message_id"]
    assert first.get_json()["mail_message_id"] in mails[1]["References"]
    assert "Fixed, please check." in mails[1].get_content()
    again = api.get(f"/api/v1/tickets/{ticket['id']}").get_json()
    assert again["status"] == "pending"
    assert again["first_responded_at"] is not None
    assert second.get_json()["public"] is True


def test_internal_note_is_not_mailed(api, make_contact, outbox):
    contact = make_contact()
    ticket = api.post("/api/v1/tickets", json={"subject": "x", "contact_id": contact.id}).get_json()
    r = api.post(f"/api/v1/tickets/{ticket['id']}/messages", json={"body": "psst", "public": False})
    assert r.status_code == 201
    assert outbox.files() == []
    thread = api.get(f"/api/v1/tickets/{ticket['id']}/messages").get_json()["data"]
    assert [(m["body"], m["public"]) for m in thread] == [("psst", False)]
    assert api.get(f"/api/v1/tickets/{ticket['id']}").get_json()["first_responded_at"] is None


def test_message_input_is_validated(api):
    ticket = api.post("/api/v1/tickets", json={"subject": "x"}).get_json()
    url = f"/api/v1/tickets/{ticket['id']}/messages"
    assert api.post(url, json={"public": True}).status_code == 422
    assert api.post(url, json={"body": "x", "extra": 1}).status_code == 422
    assert api.post(url, data="body", headers={"Content-Type": "text/plain"}).status_code == 415
    assert api.post("/api/v1/tickets/999999/messages", json={"body": "x"}).status_code == 404
    assert api.post(
        "/api/v1/ticket_messages", json={"ticket_id": ticket["id"], "body": "x"}
    ).status_code in (404, 405)


def test_merge_moves_the_thread_and_closes_the_duplicate(api, make_contact):
    contact = make_contact()
    a = api.post(
        "/api/v1/tickets", json={"subject": "Dup A", "contact_id": contact.id, "tags": ["x"]}
    ).get_json()
    b = api.post(
        "/api/v1/tickets", json={"subject": "Dup B", "contact_id": contact.id, "tags": ["y"]}
    ).get_json()
    api.post(f"/api/v1/tickets/{a['id']}/messages", json={"body": "note on A", "public": False})
    r = api.post(f"/api/v1/tickets/{a['id']}/merge", json={"into": b["id"]})
    assert r.status_code == 200, r.get_json()
    assert set(r.get_json()["tags"]) == {"x", "y"}
    merged = api.get(f"/api/v1/tickets/{a['id']}").get_json()
    assert merged["status"] == "closed" and merged["merged_into_id"] == b["id"]
    bodies = [m["body"] for m in api.get(f"/api/v1/tickets/{b['id']}/messages").get_json()["data"]]
    assert "note on A" in bodies and any(a["number"] in x for x in bodies)
    assert api.get(f"/api/v1/tickets/{a['id']}/messages").get_json()["data"] == []
    again = api.post(f"/api/v1/tickets/{a['id']}/merge", json={"into": b["id"]})
    assert again.status_code == 422
    assert api.post(f"/api/v1/tickets/{b['id']}/merge", json={"into": b["id"]}).status_code == 422
    assert api.post(f"/api/v1/tickets/{b['id']}/merge", json={"into": 99999}).status_code == 422


def test_agent_reads_all_sales_rep_only_assigned_read_only_cannot_write(api, make_user, api_as):
    agent, rep, reader = make_user("support_agent"), make_user("sales_rep"), make_user("read_only")
    mine = api.post("/api/v1/tickets", json={"subject": "rep's", "assignee_id": rep.id}).get_json()
    other = api.post("/api/v1/tickets", json={"subject": "other", "assignee_id": None}).get_json()
    agent_api, rep_api, reader_api = api_as(agent), api_as(rep), api_as(reader)
    ids = {t["id"] for t in agent_api.get("/api/v1/tickets").get_json()["data"]}
    assert {mine["id"], other["id"]} <= ids
    assert (
        agent_api.post(f"/api/v1/tickets/{other['id']}/messages", json={"body": "hi"}).status_code
        == 201
    )
    assert [t["id"] for t in rep_api.get("/api/v1/tickets").get_json()["data"]] == [mine["id"]]
    assert rep_api.get(f"/api/v1/tickets/{other['id']}").status_code == 404
    assert (
        rep_api.post(f"/api/v1/tickets/{mine['id']}/messages", json={"body": "x"}).status_code
        == 403
    )
    assert reader_api.get(f"/api/v1/tickets/{other['id']}").status_code == 200
    assert reader_api.post("/api/v1/tickets", json={"subject": "x"}).status_code == 403
    assert (
        reader_api.post(
            f"/api/v1/tickets/{other['id']}/merge", json={"into": mine["id"]}
        ).status_code
        == 403
    )


def test_disabled_plugin_hides_routes_and_keeps_rows(api, cli, records):
    ticket = records.create("tickets", {"subject": "kept"})
    assert cli("plugins", "disable", "support").exit_code == 0
    assert api.get("/api/v1/tickets").status_code == 404
    assert api.get(f"/api/v1/tickets/{ticket.id}/messages").status_code == 404
    assert cli("plugins", "enable", "support").exit_code == 0
    assert api.get(f"/api/v1/tickets/{ticket.id}").get_json()["subject"] == "kept"


def test_tickets_are_searchable(api):
    api.post("/api/v1/tickets", json={"subject": "Flux capacitor leaking"})
    hits = api.get("/api/v1/search?q=capacitor").get_json()["data"]
    assert any(h["entity"] == "ticket" for h in hits)
