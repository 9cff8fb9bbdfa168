"""Run history: per rule and per record, on the record's timeline, and its retention.

Runs older than ``automation_history_days`` (``instance/crm.toml`` or the
``CRM_AUTOMATION_HISTORY_DAYS`` environment variable; 90 days by default) are deleted daily.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

from crmcore.db import utcnow
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select

from .models import AutomationRun, AutomationWorkflow

DEFAULT_DAYS = 90
STATUS_LABELS = {
    "pending": _l("pending"),
    "running": _l("running"),
    "done": _l("done"),
    "failed": _l("failed"),
    "skipped": _l("skipped"),
}


def retention_days(crm: Any) -> int:
    """How many days runs are kept (at least one)."""
    raw = os.environ.get("CRM_AUTOMATION_HISTORY_DAYS") or crm.settings.extra.get(
        "automation_history_days", DEFAULT_DAYS
    )
    try:
        return max(1, int(raw))
    except (TypeError, ValueError):
        return DEFAULT_DAYS


def purge_job(app: Any) -> None:
    """Periodic job: :func:`purge_old_runs`."""
    purge_old_runs(app)


def purge_old_runs(app: Any) -> int:
    """Delete runs older than the retention; returns how many."""
    crm = app.extensions["crm"]
    session = crm.session
    cutoff = utcnow() - dt.timedelta(days=retention_days(crm))
    result = session.execute(delete(AutomationRun).where(AutomationRun.created_at < cutoff))
    session.commit()
    return int(getattr(result, "rowcount", 0) or 0)


def runs_of_rule(session: Any, rule_id: int, limit: int = 50) -> list[AutomationRun]:
    """The rule's latest runs, newest first."""
    return list(
        session.scalars(
            select(AutomationRun)
            .where(AutomationRun.workflow_id == rule_id)
            .order_by(AutomationRun.id.desc())
            .limit(limit)
        )
    )


def runs_of_record(session: Any, entity: str, record_id: int, limit: int = 50) -> list[Any]:
    """``(run, rule name)`` of the rules that ran on one record, newest first."""
    return list(
        session.execute(
            select(AutomationRun, AutomationWorkflow.name)
            .join(AutomationWorkflow, AutomationWorkflow.id == AutomationRun.workflow_id)
            .where(AutomationRun.entity == entity, AutomationRun.record_id == record_id)
            .order_by(AutomationRun.id.desc())
            .limit(limit)
        ).all()
    )


def summary(run: AutomationRun) -> str:
    """One line per action: its kind, its status, its result or error."""
    lines = []
    for number, step in enumerate(run.results or [], start=1):
        detail = step.get("error") or step.get("result") or ""
        lines.append(f"{number}. {step.get('type')}: {step.get('status')} {detail}".rstrip())
    if run.note:
        lines.insert(0, run.note)
    return "\n".join(lines)


def timeline_items(ctx: Any) -> list[Any]:
    """The runs on ``ctx.record`` for its timeline (kind ``automation``)."""
    from crmcore.timeline import TimelineItem

    if not ctx.wants("automation", _("Automation")):
        return []
    rows = runs_of_record(ctx.records.session, ctx.entity.name, ctx.record.id, ctx.fetch)
    return [
        TimelineItem(
            kind="automation",
            at=run.created_at,
            title=_(
                "Workflow %(name)s: %(status)s",
                name=name,
                status=str(STATUS_LABELS.get(run.status, run.status)),
            ),
            summary=summary(run),
            link=ctx.link("workflows", run.workflow_id),
            id=run.id,
            data={"workflow_id": run.workflow_id, "status": run.status, "trigger": run.trigger},
        )
        for run, name in rows
    ]
