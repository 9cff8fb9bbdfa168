"""Scheduled reports: e-mailed daily, weekly (Mondays) or monthly (on the 1st) to users who may
read them, each with their own rights, in their language, as a table, the report's chart as an
inline PNG image (when its default view is a chart) and a CSV attachment.

Recipients are checked when the report is saved: an address that is not an active user of the
instance, or a user who may not read the report, is refused, naming the recipient. The job runs
hourly; a report is due once per period of the instance's calendar, claimed by a conditional
``UPDATE`` so that two workers never send it twice.
"""

from __future__ import annotations

import datetime as dt
import logging
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any
from zoneinfo import ZoneInfo

from crmcore import ValidationError
from crmcore.db import utcnow
from crmcore.permissions import Access
from crmcore.settings import base_url, time_zone
from crmcore.users.models import Team, User
from flask_babel import force_locale
from flask_babel import gettext as _
from markupsafe import escape
from sqlalchemy import func, select, update

from . import export, present
from .chart_image import HEIGHT, WIDTH, render_png
from .definition import parse_definition
from .models import Report
from .runner import run_definition
from .sharing import get_readable

log = logging.getLogger(__name__)
NOT_A_USER = "Send reports only to active users of this CRM."
MAY_NOT_READ = "This user may not read the report."
NEEDS_RECIPIENTS = "Add at least one recipient."


def _users_by_email(session: Any, emails: list[str]) -> dict[str, User]:
    wanted = {e.lower() for e in emails}
    rows = session.scalars(
        select(User).where(
            func.lower(User.email).in_(wanted), User.active.is_(True), User.deleted_at.is_(None)
        )
    )
    return {u.email.lower(): u for u in rows}


def may_read(session: Any, crm: Any, user: User, report: Any) -> bool:
    """Whether ``user`` may read a report with these owner and sharing values (saved or not)."""
    if report.owner_id == user.id:
        return True
    if report.visibility == "team" and report.team_id is not None:
        team = session.get(Team, report.team_id)
        if team is not None and team.deleted_at is None and user.id in team.member_ids:
            return True
    if report.visibility == "role" and report.role_id == user.role_id:
        return True
    access = Access.for_user(user)
    return bool(access.allows_record(crm.registry.get("reports"), "read", report, session))


def check_schedule(service: Any, data: dict[str, Any], record: Any) -> None:
    """Refuse recipients outside the instance's users, or who may not read the report."""

    def value(name: str, default: Any = None) -> Any:
        return data.get(name, getattr(record, name, default))

    recipients = list(value("recipients") or [])
    if not value("schedule"):
        return
    if not recipients:
        raise ValidationError({"recipients": [NEEDS_RECIPIENTS]})
    users = _users_by_email(service.session, recipients)
    owner_id = value("owner_id") if "owner_id" in data or record else None
    if owner_id is None:
        owner_id = service.access.user_id
    shape = Report(
        owner_id=owner_id,
        visibility=value("visibility") or "private",
        team_id=value("team_id"),
        role_id=value("role_id"),
    )
    errors: dict[str, list[str]] = {}
    for i, email in enumerate(recipients):
        user = users.get(email.lower())
        if user is None:
            errors[f"recipients.{i}"] = [NOT_A_USER]
        elif not may_read(service.session, service.crm, user, shape):
            errors[f"recipients.{i}"] = [MAY_NOT_READ]
    if errors:
        raise ValidationError(errors)


def _period(when: dt.date, schedule: str) -> tuple[int, ...]:
    if schedule == "daily":
        return (when.toordinal(),)
    if schedule == "weekly":
        return tuple(when.isocalendar()[:2])
    return (when.year, when.month)


def is_due(report: Report, now: dt.datetime, zone: ZoneInfo) -> bool:
    """Whether ``report`` has not been sent in the current period (weekly from Monday, monthly
    from the 1st, in the instance's time zone)."""
    if not report.schedule:
        return False
    if report.last_sent_at is None:
        return True
    today = now.astimezone(zone).date()
    last = report.last_sent_at.astimezone(zone).date()
    return _period(last, report.schedule) != _period(today, report.schedule)


def send_scheduled_reports(app: Any, now: dt.datetime | None = None) -> int:
    """The periodic job: send every due report; returns how many messages went out."""
    crm = app.extensions["crm"]
    session = crm.session
    now = now or utcnow()
    zone = ZoneInfo(time_zone(crm))
    due = [
        (r.id, r.last_sent_at)
        for r in session.scalars(
            select(Report).where(Report.schedule.is_not(None), Report.deleted_at.is_(None))
        )
        if is_due(r, now, zone)
    ]
    session.rollback()
    sent = 0
    for report_id, last in due:
        claimed = session.execute(
            update(Report)
            .where(Report.id == report_id, _same(Report.last_sent_at, last))
            .values(last_sent_at=now)
            .execution_options(synchronize_session=False)
        )
        session.commit()
        if claimed.rowcount != 1:
            continue  # another worker sent it
        report = session.get(Report, report_id)
        for user in _users_by_email(session, list(report.recipients or [])).values():
            if _send_to(app, crm, report.id, user):
                sent += 1
    return sent


def _same(column: Any, value: Any) -> Any:
    return column.is_(None) if value is None else column == value


def _send_to(app: Any, crm: Any, report_id: int, user: User) -> bool:
    """Run the report with ``user``'s rights and mail it; ``False`` when they may not read it."""
    from crmcore import mail

    service = crm.records(Access.for_user(user))
    try:
        report = get_readable(service, report_id)
        result = run_definition(service, parse_definition(service, report.definition))
    except Exception:  # a report this user can no longer run is skipped, not a failed job
        log.info("scheduled report %s skipped for user %s", report_id, user.id)
        service.session.rollback()
        return False
    url = f"{base_url(crm)}/insights/reports/{report.id}"
    with force_locale(user.locale or "en"):
        head, body = present.table(result)
        message = EmailMessage()
        message["To"] = user.email
        message["Subject"] = _("Report: %(name)s", name=" ".join(report.name.split()))[:200]
        lines = [" | ".join(head), *(" | ".join(row) for row in body)]
        text = "\n".join([*lines, "", _("Open it: %(url)s", url=url)])
        message.set_content(text + "\n")
        cells = "".join(f"<th>{escape(h)}</th>" for h in head)
        rows = "".join(
            "<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in body
        )
        link = _("Open it: %(url)s", url=url)
        png = _chart_png(result, report)
        cid = make_msgid(domain="insights.crm")
        image = ""
        if png is not None:
            alt = _("Chart of the report %(name)s", name=report.name)
            image = (
                f'<p><img src="cid:{escape(cid[1:-1])}" alt="{escape(alt)}" width="{WIDTH}" '
                f'height="{HEIGHT}" style="max-width:100%;height:auto"></p>'
            )
        html = (
            f"{image}<table><thead><tr>{cells}</tr></thead><tbody>{rows}</tbody></table>"
            f"<p>{escape(link)}</p>"
        )
        message.add_alternative(html, subtype="html")
        if png is not None:
            html_part = message.get_payload()[1]
            html_part.add_related(
                png,
                maintype="image",
                subtype="png",
                cid=cid,
                disposition="inline",
                filename=f"report-{report.id}.png",
            )
        message.add_attachment(
            export.to_csv(result).encode("utf-8"),
            maintype="text",
            subtype="csv",
            filename=f"report-{report.id}.csv",
        )
    mail.send_or_queue(app, message)
    return True


def _chart_png(result: dict[str, Any], report: Report) -> bytes | None:
    """The report's chart as a PNG when its default view is a chart and it has something to
    draw; a drawing failure leaves the message without the image, never unsent."""
    if report.chart not in present.CHART_TYPES:
        return None
    chart = present.chart(result, report.chart)
    if chart is None:
        return None
    try:
        return render_png(chart, report.name)
    except Exception:
        log.exception("chart of report %s not drawn", report.id)
        return None


def scheduled_reports_job(app: Any) -> None:
    """The hourly job (``crm_periodic_jobs``): send the reports that are due."""
    send_scheduled_reports(app)
