"""SLAs: business hours and holidays, due times, pausing while pending, the periodic check."""

from __future__ import annotations

import datetime as dt

import pytest
from crm_support.businesstime import BusinessCalendar
from crm_support.jobs import check_slas
from sqlalchemy import select

from crmcore.notifications import Notification
from crmcore.settings import Setting

pytestmark = pytest.mark.crm_plugins("support")
UTC = dt.UTC
SETTINGS = {
    "time_zone": "Europe/Madrid",
    "working_hours": {d: ["09:00", "17:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
    "holidays": ["2026-03-06"],
}


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def test_business_time_skips_nights_weekends_and_holidays():
    cal = BusinessCalendar.from_settings(SETTINGS)
    # Thursday 16:00 Madrid (15:00 UTC) + 2 h: 1 h Thursday, Friday is a holiday -> Monday 10:00
    start = at("2026-03-05T15:00:00+00:00")
    assert cal.add(start, 120) == at("2026-03-09T10:00:00+01:00")
    assert cal.minutes_between(start, at("2026-03-09T10:00:00+01:00")) == 120
    # Saturday counts nothing
    assert (
        cal.minutes_between(at("2026-03-07T10:00:00+01:00"), at("2026-03-07T16:00:00+01:00")) == 0
    )


def test_calendar_without_hours_is_round_the_clock():
    cal = BusinessCalendar.from_settings({"working_hours": {}, "time_zone": "Nowhere/Bad"})
    start = at("2026-03-07T10:00:00+00:00")
    assert cal.add(start, 90) == start + dt.timedelta(minutes=90)


@pytest.fixture
def madrid(session):
    for key, value in SETTINGS.items():
        session.merge(Setting(key=key, value=value))
    session.commit()


def test_due_times_follow_the_priority_policy(api, desk, madrid):
    ticket = api.post("/api/v1/tickets", json={"subject": "x", "priority": "high"}).get_json()
    created = dt.datetime.fromisoformat(ticket["created_at"])
    cal = BusinessCalendar.from_settings(SETTINGS)
    assert dt.datetime.fromisoformat(ticket["first_response_due_at"]) == cal.add(created, 60)
    assert dt.datetime.fromisoformat(ticket["resolution_due_at"]) == cal.add(created, 480)
    r = api.patch(f"/api/v1/tickets/{ticket['id']}", json={"priority": "urgent"})
    assert dt.datetime.fromisoformat(r.get_json()["resolution_due_at"]) == cal.add(created, 240)


def test_the_clock_starts_at_the_ticket_s_creation(records, desk, monkeypatch):
    import crm_support.entities as entities

    t0 = at("2026-03-02T10:00:00.123456+00:00")  # a Monday, within the default hours 09-17 UTC
    monkeypatch.setattr(entities, "utcnow", lambda: t0)
    ticket = records.create("tickets", {"subject": "x", "priority": "high"})
    # counted from its created_at to the microsecond, whenever the insert itself reads the clock
    assert ticket.created_at == t0
    assert ticket.first_response_due_at == t0 + dt.timedelta(minutes=60)
    records.update("tickets", ticket, {"priority": "urgent"})
    assert ticket.resolution_due_at == t0 + dt.timedelta(minutes=240)


def test_pending_pauses_the_clock(records, desk, monkeypatch):
    import crm_support.entities as entities

    t0 = at("2026-03-02T10:00:00+00:00")  # a Monday; default hours 09-17 UTC on weekdays
    monkeypatch.setattr(entities, "utcnow", lambda: t0)
    ticket = records.create("tickets", {"subject": "x", "priority": "high"})
    due = ticket.resolution_due_at
    assert due == at("2026-03-03T10:00:00+00:00")  # 7 h on Monday, 1 h on Tuesday
    monkeypatch.setattr(entities, "utcnow", lambda: t0 + dt.timedelta(minutes=30))
    records.update("tickets", ticket, {"status": "pending"})
    assert ticket.sla_paused_at is not None
    monkeypatch.setattr(entities, "utcnow", lambda: t0 + dt.timedelta(minutes=90))
    records.update("tickets", ticket, {"status": "open"})
    assert ticket.sla_paused_at is None
    assert ticket.resolution_due_at == due + dt.timedelta(minutes=60)
    monkeypatch.setattr(entities, "utcnow", lambda: at("2026-03-02T16:30:00+00:00"))
    records.update("tickets", ticket, {"status": "pending"})
    monkeypatch.setattr(entities, "utcnow", lambda: at("2026-03-03T09:30:00+00:00"))
    records.update("tickets", ticket, {"status": "open"})  # 30 + 30 business minutes paused
    assert ticket.resolution_due_at == at("2026-03-03T12:00:00+00:00")


def test_periodic_check_warns_then_alerts_once(app, records, session, desk):
    agent = desk["agents"][0]
    ticket = records.create(
        "tickets", {"subject": "Slow", "priority": "urgent", "assignee_id": agent.id}
    )
    due = ticket.first_response_due_at
    assert check_slas(app, due - dt.timedelta(hours=10)) == {"warning": 0, "breached": 0, "ok": 0}
    assert check_slas(app, due - dt.timedelta(minutes=2))["warning"] == 1
    session.refresh(ticket)
    assert ticket.sla_status == "warning"
    assert check_slas(app, due - dt.timedelta(minutes=1))["warning"] == 0  # no repeat
    assert check_slas(app, due + dt.timedelta(minutes=1))["breached"] == 1
    notes = list(session.scalars(select(Notification).where(Notification.user_id == agent.id)))
    assert [n.kind for n in notes] == ["support.sla_warning", "support.sla_breached"]
    assert notes[1].link_entity == "ticket" and notes[1].link_id == ticket.id
    session.refresh(ticket)
    assert ticket.sla_status == "breached" and ticket.sla_breached


def test_unassigned_breach_alerts_the_queue_members(app, records, session, desk):
    ticket = records.create("tickets", {"subject": "Nobody's", "priority": "urgent"})
    check_slas(app, ticket.resolution_due_at + dt.timedelta(minutes=1))
    got = set(
        session.scalars(
            select(Notification.user_id).where(Notification.kind == "support.sla_breached")
        )
    )
    assert got == {a.id for a in desk["agents"]}


def test_sla_status_is_listed_and_filterable(app, api, records, desk):
    late = records.create("tickets", {"subject": "late", "priority": "urgent"})
    records.create("tickets", {"subject": "fine", "priority": "low"})
    check_slas(app, late.resolution_due_at + dt.timedelta(minutes=1))
    rows = api.get("/api/v1/tickets?sla_status=breached").get_json()["data"]
    assert [r["subject"] for r in rows] == ["late"]


def test_the_job_is_registered(crm):
    assert "support.sla_check" in crm.jobs.periodic
