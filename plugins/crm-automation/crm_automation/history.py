"""Run history: per rule and per record, on the record's timeline, and its retention.

Runs older than ``automation_history_days`` (``instance/crm.toml`` or the
``CRM_AUTOMATION_HISTORY_DAYS`` environment variable; 90 days by default) are deleted daily.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from typing import Any

from crmcore.db import utcnow
from flask import has_request_context
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


def call_deliveries(session: Any, rule_id: int, limit: int = 20) -> list[Any]:
    """The latest requests of the rule's call-webhook actions with their attempts:
    ``(delivery, [attempt, ...])``, newest first (the rule's delivery log)."""
    from .webhooks.models import AutomationWebhookAttempt, AutomationWebhookDelivery

    deliveries = list(
        session.scalars(
            select(AutomationWebhookDelivery)
            .where(AutomationWebhookDelivery.workflow_id == rule_id)
            .order_by(AutomationWebhookDelivery.id.desc())
            .limit(limit)
        )
    )
    attempts: dict[int, list[Any]] = {d.id: [] for d in deliveries}
    if deliveries:
        for attempt in session.scalars(
            select(AutomationWebhookAttempt)
            .where(AutomationWebhookAttempt.delivery_id.in_(list(attempts)))
            .order_by(AutomationWebhookAttempt.number)
        ):
            attempts[attempt.delivery_id].append(attempt)
    return [(d, attempts[d.id]) for d in deliveries]


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


#: states of one action of a run
STEP_LABELS = {
    **STATUS_LABELS,
    "started": _l("started"),
    "retrying": _l("retrying"),
}

#: the results and notes that runs store in English, as patterns and their message ids, so
#: that pages show them in the reader's language (stored text stays as it was written)
_TEXTS = [
    (re.compile(pattern), message)
    for pattern, message in (
        (r"Fields updated: (?P<fields>.+)", _l("Fields updated: %(fields)s")),
        (r"Tags already present", _l("Tags already present")),
        (r"Tags added: (?P<tags>.+)", _l("Tags added: %(tags)s")),
        (r"Tags already absent", _l("Tags already absent")),
        (r"Tags removed: (?P<tags>.+)", _l("Tags removed: %(tags)s")),
        (r"Task #(?P<id>\d+) created", _l("Task #%(id)s created")),
        (r"Assigned to user #(?P<id>\d+)", _l("Assigned to user #%(id)s")),
        (r"(?P<count>\d+) user\(s\) notified", _l("%(count)s user(s) notified")),
        (r"Not sent: no address, or the contact opted out",
         _l("Not sent: no address, or the contact opted out")),
        (r"E-mail sent", _l("E-mail sent")),
        (r"Action (?P<action>\S+) performed", _l("Action %(action)s performed")),
        (r"Waited (?P<delay>.+)", _l("Waited %(delay)s")),
        (r"Waiting until (?P<moment>.+)", _l("Waiting until %(moment)s")),
        (r"Added to list #(?P<id>\d+)", _l("Added to list #%(id)s")),
        (r"Already on list #(?P<id>\d+)", _l("Already on list #%(id)s")),
        (r"Delivered: (?P<delivery>.+)", _l("Delivered: %(delivery)s")),
        (r"Not delivered: (?P<delivery>.+)", _l("Not delivered: %(delivery)s")),
        (r"Handed to the delivery log: (?P<delivery>.+)",
         _l("Handed to the delivery log: %(delivery)s")),
        (r"Handed to the delivery log before the worker stopped \(sent from there\): "
         r"(?P<delivery>.+)",
         _l("Handed to the delivery log before the worker stopped (sent from there): "
            "%(delivery)s")),
        (r"Not delivered yet, retried with backoff: (?P<delivery>.+)",
         _l("Not delivered yet, retried with backoff: %(delivery)s")),
        (r"Loop stopped: (?P<count>\d+) rules led here\.",
         _l("Loop stopped: %(count)s rules led here.")),
        (r"Rate limit: too many runs on this record in the last hour\.",
         _l("Rate limit: too many runs on this record in the last hour.")),
        (r"Left the sequence: the record is gone or out of the rule's reach\.",
         _l("Left the sequence: the record is gone or out of the rule's reach.")),
        (r"Left the sequence: the contact opted out of e-mail\.",
         _l("Left the sequence: the contact opted out of e-mail.")),
        (r"Left the sequence: its exit conditions no longer compile\.",
         _l("Left the sequence: its exit conditions no longer compile.")),
        (r"Left the sequence: its exit conditions hold \((?P<conditions>.*)\)\.",
         _l("Left the sequence: its exit conditions hold (%(conditions)s).")),
        (r"Cut short: the worker stopped while doing it; not done again\.",
         _l("Cut short: the worker stopped while doing it; not done again.")),
        (r"The rule or its action was removed\.", _l("The rule or its action was removed.")),
        (r"No record matches the payload\.", _l("No record matches the payload.")),
        (r"The rule's conditions do not hold for the record\.",
         _l("The rule's conditions do not hold for the record.")),
        (r"The payload did not make a valid record\.",
         _l("The payload did not make a valid record.")),
    )
]


def translated(text: str) -> str:
    """A stored result or note in the reader's language, when it is one the plugin writes (as
    written outside a request: the command line speaks English)."""
    if not has_request_context():
        return text
    for pattern, message in _TEXTS:
        found = pattern.fullmatch(text)
        if found:
            return str(message) % found.groupdict()
    return text


def summary(run: AutomationRun) -> str:
    """One line per action: its kind, its status, its result or error (in the reader's
    language where the texts are the plugin's own)."""
    from .views import ACTION_LABELS

    if not has_request_context():
        return _plain_summary(run)
    lines = []
    for number, step in enumerate(run.results or [], start=1):
        detail = translated(step.get("error") or step.get("result") or "")
        kind = str(ACTION_LABELS.get(step.get("type") or "", step.get("type")))
        status = str(STEP_LABELS.get(step.get("status") or "", step.get("status")))
        lines.append(f"{number}. {kind}: {status} {detail}".rstrip())
    if run.note:
        lines.insert(0, translated(run.note))
    return "\n".join(lines)


def _plain_summary(run: AutomationRun) -> str:
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
