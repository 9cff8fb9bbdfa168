"""Best time to call: answer rates per local hour from logged calls, and the rep's call list."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from crmcore.permissions import Access
from crmcore.testing.plugin import PASSWORD

from crm_insights.analysis.call_times import (
    answered,
    call_list,
    compute,
    window,
    zone_of,
)

NOW = dt.datetime(2026, 1, 15, 15, 30, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("outcome", "minutes", "expected"),
    [
        ("answered", None, True),
        ("Interested, call back in March", None, True),
        (None, 4, True),
        ("No answer", None, False),
        ("NO-ANSWER", 0, False),
        ("  Buzón de voz ", None, False),
        ("busy", 2, False),
        ("", 0, None),
        (None, None, None),
    ],
)
def test_answered(outcome: str | None, minutes: int | None, expected: bool | None) -> None:
    assert answered(outcome, minutes) is expected


def test_zones() -> None:
    assert zone_of("Europe/Madrid", "MX", "UTC").key == "Europe/Madrid"
    assert zone_of(None, "mx", "UTC").key == "America/Mexico_City"
    assert zone_of("Mars/Olympus", "ES", "UTC").key == "Europe/Madrid"  # a bad zone is skipped
    assert zone_of(None, "ZZ", "America/Bogota").key == "America/Bogota"
    assert zone_of("../../etc/passwd", None, "nonsense").key == "UTC"


def call(records: Any, contact: Any, when: str, outcome: str | None = None, **extra: Any) -> None:
    records.create(
        "activities",
        {"kind": "call", "subject": "Call", "occurred_at": when, "outcome": outcome,
         "record_type": "contact", "record_id": contact.id, **extra},
    )  # fmt: skip


@pytest.fixture
def calls(records: Any, make_contact: Any, make_user: Any) -> dict[str, Any]:
    """Madrid (own history), two Mexicans (country history) and one with no place or calls."""
    rep = make_user("sales_rep")
    madrid = make_contact(first_name="Marta", timezone="Europe/Madrid", owner_id=rep.id)
    mx_new = make_contact(first_name="Nico", country="MX", owner_id=rep.id)
    mx_old = make_contact(first_name="Olga", country="MX", owner_id=rep.id)
    nowhere = make_contact(first_name="Pablo", owner_id=rep.id)
    for outcome in ("answered", "no answer", "busy"):  # 09 in Madrid: 1 of 3
        call(records, madrid, "2026-01-05T08:30:00Z", outcome)
    for outcome, minutes in (("Connected", None), ("interested", None), (None, 5)):
        call(records, madrid, "2026-01-06T15:10:00Z", outcome, duration_minutes=minutes)
    call(records, madrid, "2026-01-07T10:00:00Z", "Voicemail")  # 11: one call only
    call(records, madrid, "2026-01-07T10:00:00Z")  # nothing says: left out
    call(records, madrid, "2026-01-07T10:00:00Z", "answered", direction="in")  # incoming
    records.create(
        "activities",
        {"kind": "meeting", "subject": "Visit", "occurred_at": "2026-01-07T10:00:00Z",
         "outcome": "answered", "record_type": "contact", "record_id": madrid.id},
    )  # fmt: skip
    for _ in range(3):  # 10 in Mexico City: answered
        call(records, mx_old, "2026-01-08T16:00:00Z", "sí")
    for _ in range(2):
        call(records, mx_new, "2026-01-08T16:05:00Z", "no contesta")
    return {"rep": rep, "madrid": madrid, "mx_new": mx_new, "mx_old": mx_old, "nowhere": nowhere}


@pytest.mark.crm_plugins("insights")
def test_windows(crm: Any, session: Any, calls: dict[str, Any]) -> None:
    assert compute(crm, session) == 12
    madrid = window(session, calls["madrid"].id, "")
    assert (madrid.hours, madrid.rates, madrid.source) == ((16, 9), (1.0, 0.3333), "contact")
    mexico = window(session, calls["mx_new"].id, "MX")
    assert (mexico.hours, mexico.rates, mexico.source) == ((10,), (0.6,), "country")
    anyone = window(session, calls["nowhere"].id, "")
    assert (anyone.hours, anyone.rates, anyone.source) == ((16, 10, 9), (1.0, 0.6, 0.3333), "all")
    assert anyone.wait(15) == 1 and anyone.wait(16) == 0 and anyone.wait(17) == 16


@pytest.mark.crm_plugins("insights")
def test_nothing_logged(crm: Any, session: Any, make_contact: Any) -> None:
    assert compute(crm, session) == 0
    empty = window(session, make_contact().id, "ES")
    assert (empty.hours, empty.source) == ((), "")


def task(records: Any, contact: Any, assignee: Any, due: str | None, **extra: Any) -> Any:
    return records.create(
        "tasks",
        {"title": f"Call {contact.first_name}", "record_type": "contact",
         "record_id": contact.id, "assignee_id": assignee.id, "due_at": due, **extra},
    )  # fmt: skip


@pytest.fixture
def due(records: Any, make_contact: Any, make_user: Any, calls: dict[str, Any]) -> dict[str, Any]:
    rep = calls["rep"]
    task(records, calls["mx_new"], rep, "2026-01-15T09:00:00Z")
    task(records, calls["nowhere"], rep, "2026-01-14T09:00:00Z")
    task(records, calls["madrid"], rep, "2026-01-15T12:00:00Z")
    task(records, calls["mx_old"], rep, "2026-01-16T09:00:00Z")  # tomorrow
    done = task(records, calls["mx_old"], rep, "2026-01-10T09:00:00Z")
    records.update("tasks", done, {"status": "done"})
    someone = make_user("sales_rep")
    task(records, calls["mx_old"], someone, "2026-01-10T09:00:00Z")  # someone else's
    hidden = make_contact(first_name="Quique", owner_id=someone.id)
    task(records, hidden, rep, "2026-01-10T09:00:00Z")  # a contact the rep may not read
    return calls


@pytest.mark.crm_plugins("insights")
def test_call_list_order_and_scope(crm: Any, session: Any, due: dict[str, Any]) -> None:
    compute(crm, session)
    records = crm.records(Access.for_user(due["rep"]))
    listed = call_list(records, NOW)
    # 16:30 in Madrid is a best hour (now); Pablo's best (16 UTC) and Nico's (10 in Mexico
    # City, 09:30 there) are both an hour away: the earlier due date first
    assert [d.contact.first_name for d in listed] == ["Marta", "Pablo", "Nico"]
    assert [d.local.hour for d in listed] == [16, 15, 9]


@pytest.mark.crm_plugins("insights")
def test_call_list_page(
    app: Any, crm: Any, session: Any, make_user: Any, due: dict[str, Any]
) -> None:
    compute(crm, session)
    session.commit()
    client = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(True))
    assert token
    form = {"email": due["rep"].email, "password": PASSWORD, "csrf_token": token[1]}
    assert client.post("/login", data=form).status_code == 303
    page = client.get("/insights/calls/")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Quique" not in text and "Marta" in text  # (today the Jan tasks are all overdue)
    assert "16:00 (100 %)" in text
    # in Spanish
    crm.records().update("users", due["rep"], {"locale": "es"})
    session.commit()
    text = client.get("/insights/calls/").get_data(as_text=True)
    assert "Lista de llamadas" in text and "Mejores horas" in text and "Call list" not in text


@pytest.mark.crm_plugins("insights")
def test_call_list_needs_tasks(app: Any, make_user: Any) -> None:
    from crmcore.users.models import Role

    crm = app.extensions["crm"]
    role = crm.records().create("roles", {"name": "viewer", "title": "Viewer",
                                          "grants": {"contacts": {"read": "all"}}})  # fmt: skip
    assert isinstance(role, Role)
    user = make_user("viewer")
    client = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(True))
    assert token
    form = {"email": user.email, "password": PASSWORD, "csrf_token": token[1]}
    assert client.post("/login", data=form).status_code == 303
    assert client.get("/insights/calls/").status_code == 403
