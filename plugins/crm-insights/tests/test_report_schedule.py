"""Scheduled reports: recipients checked when saved; the job mails each recipient the report
with their own rights, in their language, with a CSV attachment, once per period."""

from __future__ import annotations

import datetime as dt
from email import message_from_bytes, policy
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from crm_insights.reports.models import Report
from crm_insights.reports.schedule import is_due, send_scheduled_reports

pytestmark = pytest.mark.crm_plugins("sales", "insights")
DEFINITION = {"entity": "deals", "group_by": ["probability"], "measures": ["count"]}


def mails_to(crm: Any, address: str) -> list[Any]:
    from crmcore.mail.outbox import outbox_path

    folder = outbox_path(crm.settings.instance_path)
    out = []
    for path in sorted(folder.glob("*.eml")) if folder.exists() else []:
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        if message["To"] == address:
            out.append(message)
    return out


def test_recipients_outside_the_users_are_refused(api: Any, make_user: Any) -> None:
    body = {"name": "Daily", "definition": DEFINITION, "schedule": "daily"}
    response = api.post("/api/v1/reports", json={**body, "recipients": ["someone@elsewhere.test"]})
    assert response.status_code == 422
    assert response.get_json()["errors"] == {
        "recipients.0": ["Send reports only to active users of this CRM."]
    }
    response = api.post("/api/v1/reports", json={**body, "recipients": []})
    assert list(response.get_json()["errors"]) == ["recipients"]
    response = api.post("/api/v1/reports", json={**body, "recipients": ["not an address"]})
    assert response.status_code == 422


def test_recipients_who_may_not_read_the_report_are_refused(api_as: Any, make_user: Any) -> None:
    rep, other = make_user("sales_rep"), make_user("sales_rep")
    response = api_as(rep).post(
        "/api/v1/reports",
        json={
            "name": "Mine",
            "definition": DEFINITION,
            "schedule": "weekly",
            "recipients": [rep.email, other.email],
        },
    )
    assert response.status_code == 422
    assert response.get_json()["errors"] == {"recipients.1": ["This user may not read the report."]}


def test_the_job_mails_each_reader_their_own_rows(
    crm: Any, app: Any, api: Any, make_user: Any, make_deal: Any, session: Any
) -> None:
    from crmcore.users.models import Role
    from sqlalchemy import select

    rep = make_user("sales_rep", locale="es")
    manager = make_user("manager")
    make_deal("Mine", owner_id=rep.id, probability=10)
    make_deal("Theirs", owner_id=manager.id, probability=10)
    reps = session.scalar(select(Role).where(Role.name == "sales_rep"))
    created = api.post(
        "/api/v1/reports",
        json={
            "name": "Deals <b>",
            "definition": DEFINITION,
            "schedule": "daily",
            "visibility": "role",
            "role_id": reps.id,
            "recipients": [rep.email, manager.email],
        },
    )
    assert created.status_code == 201, created.get_json()
    now = dt.datetime(2026, 3, 2, 7, 0, tzinfo=dt.UTC)
    assert send_scheduled_reports(app, now) == 2
    (mine,) = mails_to(crm, rep.email)
    assert mine["Subject"] == "Informe: Deals <b>"
    csv_part = next(p for p in mine.iter_attachments() if p.get_filename().endswith(".csv"))
    assert csv_part.get_content().splitlines()[1:] == ["10,1"]
    html = mine.get_body(("html",)).get_content()
    assert "<table>" in html and f"/insights/reports/{created.get_json()['id']}" in html
    (theirs,) = mails_to(crm, manager.email)
    manager_csv = next(p for p in theirs.iter_attachments()).get_content()
    assert manager_csv.splitlines()[1:] == ["10,2"]
    # once per day: a second run the same day sends nothing, the next day sends again
    assert send_scheduled_reports(app, now + dt.timedelta(hours=5)) == 0
    assert send_scheduled_reports(app, now + dt.timedelta(days=1)) == 2


@pytest.mark.parametrize(
    ("schedule", "last", "now", "due"),
    [
        ("daily", "2026-03-02 08:00", "2026-03-02 20:00", False),
        ("daily", "2026-03-02 08:00", "2026-03-03 00:30", True),
        ("weekly", "2026-03-02 08:00", "2026-03-08 20:00", False),  # Monday to Sunday
        ("weekly", "2026-03-02 08:00", "2026-03-09 01:00", True),
        ("monthly", "2026-03-01 08:00", "2026-03-31 20:00", False),
        ("monthly", "2026-03-31 08:00", "2026-04-01 00:10", True),
    ],
)
def test_periods(schedule: str, last: str, now: str, due: bool) -> None:
    zone = ZoneInfo("UTC")
    report = Report(schedule=schedule, last_sent_at=dt.datetime.fromisoformat(last + "+00:00"))
    assert is_due(report, dt.datetime.fromisoformat(now + "+00:00"), zone) is due
