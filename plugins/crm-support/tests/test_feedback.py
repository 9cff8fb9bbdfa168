"""Satisfaction surveys, reports and dashboard widgets."""

from __future__ import annotations

import re

import pytest
from crm_support.models import Feedback
from support_testing import csrf_of

pytestmark = pytest.mark.crm_plugins("support")


def survey_path(outbox, address) -> str:
    mails = [m for m in outbox.to(address) if "/support/feedback/" in m.get_content()]
    assert len(mails) == 1
    return re.search(r"http://[^/]+(/support/feedback/\S+)", mails[0].get_content()).group(1)


def test_solving_sends_a_survey_answered_once(app, api, records, make_contact, outbox, session):
    contact = make_contact(email="fay@customer.example")
    ticket = records.create("tickets", {"subject": "x", "contact_id": contact.id})
    api.patch(f"/api/v1/tickets/{ticket.id}", json={"status": "solved"})
    path = survey_path(outbox, contact.email)
    client = app.test_client()
    page = client.get(path)
    assert page.status_code == 200
    token = csrf_of(page.get_data(as_text=True))
    assert client.post(path, data={"csrf_token": token, "rating": "9"}).status_code == 422
    r = client.post(path, data={"csrf_token": token, "rating": "4", "comment": "Quick!"})
    assert r.status_code == 200
    client.post(path, data={"csrf_token": token, "rating": "1", "comment": "changed mind"})
    [answer] = session.query(Feedback).filter_by(ticket_id=ticket.id).all()
    assert (answer.rating, answer.comment) == (4, "Quick!")


def test_forged_or_altered_survey_links_do_nothing(
    app, api, records, make_contact, outbox, session
):
    contact = make_contact(email="gus@customer.example")
    ticket = records.create("tickets", {"subject": "x", "contact_id": contact.id})
    api.patch(f"/api/v1/tickets/{ticket.id}", json={"status": "solved"})
    path = survey_path(outbox, contact.email)
    client = app.test_client()
    token = csrf_of(client.get(path).get_data(as_text=True))
    head, _, sig = path.rpartition(".")
    altered = head + "." + ("A" if sig[0] != "A" else "B") + sig[1:]
    for bad in (altered, "/support/feedback/forged", "/support/feedback/" + "x" * 2000):
        assert client.post(bad, data={"csrf_token": token, "rating": "1"}).status_code == 404
    assert session.query(Feedback).count() == 0


def test_reports_are_scoped_and_permissioned(app, api, api_as, records, make_user, session):
    rep = make_user("sales_rep")
    agent = make_user("support_agent")
    mine = records.create("tickets", {"subject": "a", "assignee_id": rep.id, "priority": "high"})
    records.create("tickets", {"subject": "b", "assignee_id": None})
    session.add(Feedback(ticket_id=mine.id, rating=5))
    session.commit()
    backlog = api.get("/api/v1/support/reports/backlog").get_json()["data"]
    assert backlog["open"] == 2 and backlog["unassigned"] == 1
    assert api_as(rep).get("/api/v1/support/reports/backlog").status_code == 403
    agent_api = api_as(agent)
    sat = agent_api.get("/api/v1/support/reports/satisfaction").get_json()["data"]
    assert sat["answers"] == 1 and sat["average"] == 5
    for name in ("response-times", "sla"):
        assert agent_api.get(f"/api/v1/support/reports/{name}").status_code == 200
    assert api.get("/api/v1/support/reports/nope").status_code == 404
    assert api.get("/api/v1/support/reports/sla?days=0").status_code == 422


def test_widgets_render_in_the_readers_scope(crm, records, make_user):
    from crm_support import reports

    rep = make_user("sales_rep")
    records.create("tickets", {"subject": "a", "assignee_id": rep.id})
    records.create("tickets", {"subject": "b"})
    widgets = {w.name: w for _p, w in crm.collect("crm_dashboard_widgets")}
    assert {"support-backlog", "support-sla", "support-satisfaction", "support-times"} <= set(
        widgets
    )
    from crmcore.permissions import Access

    rep_records = crm.records(Access.for_user(rep))
    assert widgets["support-backlog"].render(rep, rep_records)["open"] == 1
    assert reports.backlog(records)["open"] == 2
