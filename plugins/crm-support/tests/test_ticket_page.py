"""A support agent's ticket page: the SLA clock (ticket and queue), canned responses in the
reply form, the new ticket's defaults, the admin menu and portal invitations from a contact."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from crm_support import sla
from crm_support.businesstime import BusinessCalendar
from support_testing import csrf_of

pytestmark = pytest.mark.crm_plugins("support")
ROUND_THE_CLOCK = BusinessCalendar(zone=dt.UTC)
NOW = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)


def _ticket(records, **fields):
    ticket = records.create("tickets", {"subject": "Printer jam"})
    for name, value in fields.items():
        setattr(ticket, name, value)
    records.session.commit()
    return ticket


def test_clock_counts_to_the_next_unmet_target(records, desk):
    hour = dt.timedelta(hours=1)
    running = _ticket(records, first_response_due_at=NOW + hour, resolution_due_at=NOW + 5 * hour)
    clock = sla.clock(records.session, running, NOW, ROUND_THE_CLOCK)
    assert clock == sla.Clock("running", "first_response", 60, NOW + hour)
    answered = _ticket(
        records,
        first_response_due_at=NOW - hour,
        first_responded_at=NOW - 2 * hour,
        resolution_due_at=NOW + 5 * hour,
    )
    clock = sla.clock(records.session, answered, NOW, ROUND_THE_CLOCK)
    assert (clock.state, clock.target, clock.minutes_left) == ("running", "resolution", 300)
    late = _ticket(records, first_response_due_at=NOW - hour, resolution_due_at=NOW + hour)
    clock = sla.clock(records.session, late, NOW, ROUND_THE_CLOCK)
    assert (clock.state, clock.minutes_left) == ("breached", -60)
    # pending: the clock stopped when the ticket began to wait on the customer
    paused = _ticket(
        records,
        status="pending",
        sla_paused_at=NOW - 2 * hour,
        first_response_due_at=NOW + hour,
        resolution_due_at=NOW + hour,
    )
    clock = sla.clock(records.session, paused, NOW, ROUND_THE_CLOCK)
    assert (clock.state, clock.minutes_left) == ("paused", 180)
    met = _ticket(
        records,
        first_response_due_at=NOW + hour,
        first_responded_at=NOW,
        resolution_due_at=NOW + hour,
        solved_at=NOW,
    )
    assert sla.clock(records.session, met, NOW, ROUND_THE_CLOCK).state == "met"
    solved_late = _ticket(
        records, first_response_due_at=NOW, first_responded_at=NOW + hour, solved_at=NOW
    )
    assert sla.clock(records.session, solved_late, NOW, ROUND_THE_CLOCK).state == "breached"
    untimed = _ticket(records, first_response_due_at=None, resolution_due_at=None)
    assert sla.clock(records.session, untimed, NOW) is None  # no targets, no clock
    assert sla.describe(125) == "2 h 05 min" and sla.describe(-45) == "45 min"


def test_clock_counts_business_hours_only(records, desk):
    cal = BusinessCalendar.from_settings(
        {"time_zone": "UTC", "working_hours": {"mon": ["09:00", "17:00"]}}
    )
    friday = dt.datetime(2026, 3, 6, 12, 0, tzinfo=dt.UTC)
    ticket = _ticket(records, first_response_due_at=dt.datetime(2026, 3, 9, 10, tzinfo=dt.UTC))
    assert sla.clock(records.session, ticket, friday, cal).minutes_left == 60  # the weekend is free


def test_ticket_page_and_queue_show_the_clock(api, web, web_as, make_user, desk):
    ticket = api.post("/api/v1/tickets", json={"subject": "Cannot log in"}).get_json()
    page = web.get(f"/tickets/{ticket['id']}").get_data(as_text=True)
    assert 'data-sla-state="running"' in page and "left to first response" in page
    queue = web.get("/support/queue").get_data(as_text=True)
    assert 'data-sla-state="running"' in queue and "Time left (business hours)" in queue
    spanish = web_as(make_user("support_agent", locale="es"))
    es = spanish.get("/support/queue").get_data(as_text=True)
    assert "hasta la primera respuesta" in es


def test_canned_responses_are_offered_escaped_in_the_reply_form(api, api_as, web, web_as, desk):
    body = 'Hello,\n<script>alert("x")</script> try restarting it.'
    r = api.post("/api/v1/canned_responses", json={"name": "Restart", "body": body})
    assert r.status_code == 201, r.get_json()
    again = api.post("/api/v1/canned_responses", json={"name": "Restart", "body": "Other"})
    assert again.status_code == 422 and "name" in again.get_json()["errors"]
    assert (
        api.post("/api/v1/canned_responses", json={"name": "Empty", "body": ""}).status_code == 422
    )
    ticket = api.post("/api/v1/tickets", json={"subject": "Slow"}).get_json()
    agent = web_as(desk["agents"][0])
    page = agent.get(f"/tickets/{ticket['id']}").get_data(as_text=True)
    assert 'id="reply-canned"' in page and "support/canned.js" in page
    assert "<script>alert" not in page and "&lt;script&gt;alert(" in page
    # agents use them but do not change them; the admin finds the desk's set-up in the menu
    mine = {"name": "Mine", "body": "x"}
    assert api_as(desk["agents"][0]).post("/api/v1/canned_responses", json=mine).status_code == 403
    assert 'href="/admin/settings"' not in agent.get("/support/queue").get_data(as_text=True)
    menu = web.get("/support/queue").get_data(as_text=True)
    for href in ("/canned_responses", "/support_queues", "/sla_policies", "/admin/settings"):
        assert f'href="{href}"' in menu


def test_duplicate_canned_name_in_the_form_keeps_what_was_typed(api, web):
    api.post("/api/v1/canned_responses", json={"name": "Thanks", "body": "Thank you!"})
    page = web.get("/canned_responses/new").get_data(as_text=True)
    r = web.post(
        "/canned_responses/new",
        data={"csrf_token": csrf_of(page), "name": "Thanks", "body": "My typed text"},
    )
    html = r.get_data(as_text=True)
    assert r.status_code == 422 and "A canned response has this name already." in html
    assert "My typed text" in html


def test_new_ticket_form_starts_open_normal_in_the_default_queue(web, desk):
    page = web.get("/tickets/new").get_data(as_text=True)
    assert re.search(r'<option value="open"\s+selected', page), page
    assert re.search(r'<option value="normal"\s+selected', page)
    assert f'value="{desk["queue"].id}"' in page


def test_portal_invitation_from_the_contact_page(api, api_as, web, make_user, make_contact, outbox):
    contact = make_contact(email="ana@example.com", first_name="Ana", last_name="Ruiz")
    page = web.get(f"/contacts/{contact.id}").get_data(as_text=True)
    assert 'data-dialog="action-portal_invite"' in page or "action-portal_invite" in page
    r = web.post(
        f"/contacts/{contact.id}/actions/portal_invite", data={"csrf_token": csrf_of(page)}
    )
    assert r.status_code == 303
    [mail] = outbox.to("ana@example.com")
    assert "/portal/activate/" in mail.get_content()
    nobody = make_contact(first_name="No", last_name="Mail", email=None)
    refused = api.post(f"/api/v1/contacts/{nobody.id}/portal_invite", json={})
    assert refused.status_code == 409
    rep = make_user("sales_rep")  # reads and edits their own contact, may not invite it
    theirs = make_contact(owner_id=rep.id)
    r = api_as(rep).post(f"/api/v1/contacts/{theirs.id}/portal_invite", json={})
    assert r.status_code == 403 and not outbox.to(theirs.email)


def _thread(api, ticket_id):
    return api.get(f"/api/v1/tickets/{ticket_id}/messages").get_json()["data"]


def test_split_moves_the_chosen_messages_to_a_new_ticket(api, web, make_contact, desk):
    contact = make_contact()
    ticket = api.post(
        "/api/v1/tickets", json={"subject": "Two problems", "contact_id": contact.id}
    ).get_json()
    for body in ("Printer broken", "Also: VPN down", "VPN still down"):
        r = api.post(
            f"/api/v1/tickets/{ticket['id']}/messages", json={"body": body, "public": False}
        )
        assert r.status_code == 201, r.get_json()
    page = web.get(f"/tickets/{ticket['id']}").get_data(as_text=True)
    assert 'data-dialog="action-split"' in page and ">#3</span>" in page
    url = f"/tickets/{ticket['id']}/actions/split"
    for bad in ("", "0", "4", "2-1", "x", "1-3", "1,2,3", "99999999999999"):
        r = web.post(url, data={"csrf_token": csrf_of(page), "messages": bad, "subject": "VPN"})
        html = r.get_data(as_text=True)
        assert r.status_code == 422, bad
        assert f'value="{bad}"' in html and 'value="VPN"' in html  # what was typed is kept
    done = web.post(url, data={"csrf_token": csrf_of(page), "messages": "2-3", "subject": "VPN"})
    assert done.status_code == 303
    new_id = int(done.headers["Location"].rsplit("/", 1)[1])
    new = api.get(f"/api/v1/tickets/{new_id}").get_json()
    assert (new["subject"], new["contact_id"], new["status"]) == ("VPN", contact.id, "open")
    assert new["queue_id"] == desk["queue"].id
    moved = [m["body"] for m in _thread(api, new_id)]
    assert moved[:2] == ["Also: VPN down", "VPN still down"] and "Split from" in moved[2]
    left = [m["body"] for m in _thread(api, ticket["id"])]
    assert left[0] == "Printer broken" and "moved to" in left[1] and len(left) == 2
    # the API answers 201 with the new ticket; a merged ticket cannot be split (409)
    other = api.post("/api/v1/tickets", json={"subject": "Dup", "contact_id": contact.id})
    api.post(f"/api/v1/tickets/{other.get_json()['id']}/messages", json={"body": "a"})
    api.post(f"/api/v1/tickets/{other.get_json()['id']}/messages", json={"body": "b"})
    r = api.post(
        f"/api/v1/tickets/{other.get_json()['id']}/split", json={"messages": "2", "subject": "B"}
    )
    assert r.status_code == 201 and r.get_json()["subject"] == "B"
    api.post(f"/api/v1/tickets/{other.get_json()['id']}/merge", json={"into": ticket["id"]})
    r = api.post(
        f"/api/v1/tickets/{other.get_json()['id']}/split", json={"messages": "1", "subject": "C"}
    )
    assert r.status_code == 409


def test_a_refused_reply_keeps_the_draft_with_the_message_on_its_field(web, api, desk):
    import io

    ticket = api.post("/api/v1/tickets", json={"subject": "Drafts"}).get_json()
    page = web.get(f"/tickets/{ticket['id']}").get_data(as_text=True)
    url = f"/support/tickets/{ticket['id']}/reply"
    typed = "A long answer <b>typed</b> with care"
    data = {"csrf_token": csrf_of(page), "body": typed, "public": "0", "status": "pending"}
    data["files"] = [(io.BytesIO(b"x"), f"f{n}.txt") for n in range(6)]  # one too many
    r = web.post(url, data=data, content_type="multipart/form-data")
    html = r.get_data(as_text=True)
    assert r.status_code == 422
    assert "A long answer &lt;b&gt;typed&lt;/b&gt; with care</textarea>" in html  # kept, escaped
    assert 'id="reply-files-error"' in html and 'aria-invalid="true"' in html
    assert '<option value="0" selected>' in html and '<option value="pending" selected>' in html
    assert api.get(f"/api/v1/tickets/{ticket['id']}/messages").get_json()["data"] == []
    r = web.post(url, data={"csrf_token": csrf_of(page), "body": "   "})
    assert r.status_code == 422 and 'id="reply-body-error"' in r.get_data(as_text=True)
    assert "Write something first." in r.get_data(as_text=True)
