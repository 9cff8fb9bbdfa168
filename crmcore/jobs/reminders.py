"""The core periodic job delivering task reminders as in-app notifications and e-mail.

A task is due for a reminder when its ``reminder_at`` has passed, ``reminded_at`` is empty, it is
open, not in the trash and has an assignee. Each one is *claimed* with
``UPDATE core_task SET reminded_at = now WHERE id = :id AND reminded_at IS NULL``: of two
consumers running the job at once, only the one whose update changed the row (rowcount 1)
notifies; on PostgreSQL the second update waits for the first transaction and then finds the
condition false, on SQLite writers are serialised. The notification is written in the same
transaction as the claim, so it exists exactly once. The e-mail follows the commit; if the mail
server fails it is queued as a job with retries rather than lost.
"""

from __future__ import annotations

import datetime as dt
import logging
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select, update

from ..activities.models import Task
from ..db import utcnow
from ..notifications import notify
from ..settings import base_url
from ..users.models import User

log = logging.getLogger(__name__)

CLOSED_STATUSES = ("done", "cancelled")
BATCH = 500
MAIL_RETRIES = 5
MAIL_RETRY_DELAY = 300


def due_task_ids(session: Any, now: dt.datetime, limit: int = BATCH) -> list[int]:
    """Ids of tasks whose reminder is due and not yet delivered, oldest first."""
    query = (
        select(Task.id)
        .where(
            Task.reminder_at <= now,
            Task.reminded_at.is_(None),
            Task.deleted_at.is_(None),
            Task.assignee_id.is_not(None),
            Task.status.not_in(CLOSED_STATUSES),
        )
        .order_by(Task.reminder_at, Task.id)
        .limit(limit)
    )
    return list(session.scalars(query))


def claim(session: Any, task_id: int, now: dt.datetime) -> bool:
    """Mark one task reminded unless another consumer did; ``True`` when this call did."""
    result = session.execute(
        update(Task)
        .where(Task.id == task_id, Task.reminded_at.is_(None))
        .values(reminded_at=now, version=Task.version + 1)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)


def deliver_task_reminders(app: Any, now: dt.datetime | None = None) -> int:
    """Notify the assignees of due tasks; returns how many reminders this call delivered."""
    crm = app.extensions["crm"]
    session = crm.session
    now = now or utcnow()
    ids = due_task_ids(session, now)
    session.rollback()  # end the reading transaction; each claim has its own
    delivered = 0
    for task_id in ids:
        if not claim(session, task_id, now):
            session.rollback()
            continue
        task = session.execute(
            select(Task).where(Task.id == task_id).execution_options(populate_existing=True)
        ).scalar_one()
        user = session.get(User, task.assignee_id) if task.assignee_id else None
        if user is None or not user.active:
            session.commit()  # nobody to tell: claimed, so it is not retried forever
            continue
        due = _when(task.due_at, user.timezone)
        with force_locale(user.locale or "en"):  # in the assignee's language
            title = _("Reminder: %(title)s", title=_one_line(task.title))
            body = _("Due %(when)s.", when=due) if due else _("No due date.")
        notify(session, user.id, "task_reminder", title, body, link=("tasks", task.id))
        session.commit()
        delivered += 1
        _mail(app, crm, task, user, due)
    return delivered


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _when(moment: dt.datetime | None, timezone: str) -> str | None:
    if moment is None:
        return None
    try:
        zone = ZoneInfo(timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def _mail(app: Any, crm: Any, task: Task, user: User, due: str | None) -> None:
    from .. import mail

    message = EmailMessage()
    message["To"] = user.email
    title = _one_line(task.title)
    with force_locale(user.locale or "en"):
        message["Subject"] = _("Reminder: %(title)s", title=title)[:200]
        lines = [
            _("Hello %(name)s,", name=user.name or user.email),
            "",
            _("Task: %(title)s", title=title),
            _("Due: %(when)s", when=due) if due else _("No due date."),
            _("Open it: %(url)s", url=f"{base_url(crm)}/tasks/{task.id}"),
        ]
    if task.description:
        lines += ["", task.description]
    message.set_content("\n".join(lines) + "\n")
    try:
        mail.send(app, message)
    except mail.MailError as exc:
        log.warning("reminder mail for task %s failed (%s); queued for retries", task.id, exc)
        try:
            crm.jobs.enqueue(
                "crmcore.mail:send_job",
                message.as_bytes(),
                delay=60,
                retries=MAIL_RETRIES,
                retry_delay=MAIL_RETRY_DELAY,
            )
        except Exception:
            log.exception("could not queue the reminder mail for task %s", task.id)
