"""The rule engine: record events -> matching rules -> one idempotent run each -> its actions.

On a record event (after the commit), each active rule of the record's entity whose trigger
matches and whose conditions hold for the record - checked in SQL in the acting user's scope -
gets one run row, unique per (rule, record, trigger occurrence): a replayed event finds the row
and does nothing. The run's actions are done by a job, each in order and on its own: a failing
action is retried with backoff by the job queue, then marked failed, without holding back the
others.

Loops are stopped twice: a run carries the chain of rules whose writes led to it and a rule is
skipped beyond ``MAX_DEPTH`` links; and a rule runs at most ``RATE_LIMIT`` times an hour on one
record.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

from crmcore.db import utcnow
from crmcore.errors import CRMError, NotFound
from crmcore.permissions import Access
from flask import g
from jinja2 import TemplateError
from sqlalchemy import Table, func, select
from sqlalchemy.exc import IntegrityError

from . import active, catalog
from .actions_catalog import ActionContext, wait_of
from .conditions import compile_conditions, matching, record_matches
from .models import AutomationRun, AutomationWorkflow
from .triggers import occurrence

log = logging.getLogger(__name__)

#: how many rule runs may lead one to another before the next is skipped
MAX_DEPTH = 3
#: runs of one rule on one record per hour
RATE_LIMIT = 20
#: further attempts of a failing action, and the first wait (doubling each time)
RETRIES = 3
BACKOFF_SECONDS = 30
JOB = "crm_automation.engine:attempt_action"
START_JOB = "crm_automation.engine:start_runs"


@dataclass
class ActionEvent:
    """A record action performed (``performed`` is its name), shaped like a record event."""

    entity: Any
    record: Any
    performed: str
    user: Any
    records: Any
    action: str = "action"
    changes: dict[str, Any] | None = None
    key: str = ""


def chain() -> list[int]:
    """Ids of the rules whose actions are running in this context, outermost first."""
    return list(g.get("automation_chain", ()))


@contextmanager
def running(links: list[int]) -> Iterator[None]:
    """Mark the writes made inside as made by the rules of ``links``."""
    before = g.get("automation_chain")
    g.automation_chain = links
    try:
        yield
    finally:
        g.automation_chain = before


def acting_records(crm: Any, rule: Any, session: Any = None) -> Any:
    """The record service a rule acts with: the system's for a system rule, else its owner's.

    ``NotFound`` when the owner is gone or deactivated (the rule can no longer act).
    """
    if rule.system:
        return crm.records(session=session)
    from crmcore.users.models import User

    session = session or crm.session
    owner = session.get(User, rule.owner_id) if rule.owner_id else None
    if owner is None or not owner.active:
        raise NotFound("The rule's owner is gone or deactivated.")
    return crm.records(Access.for_user(owner), session=session)


def on_event(event: Any) -> None:
    """Fire the rules of ``event``'s entity that its trigger and their conditions match.

    The active rules come from the app's cache (:mod:`crm_automation.active`); the conditions
    of every rule whose trigger matches, and their recent runs on the record, are asked in one
    query; the runs of all the rules that fire are written with one insert and one commit
    (:func:`fire_many`)."""
    entity = event.entity
    crm = event.records.crm
    if entity.name == "workflow":
        active.forget(crm)
        return
    session = crm.session
    rules = [
        rule
        for rule in active.rules_of(crm, entity)
        if rule.kind is not None and rule.kind.matches(rule.trigger, event)
    ]
    if not rules:
        return
    trashed = event.action == "delete"
    links = chain()
    key = getattr(event, "key", "") or occurrence(event)
    acting: list[tuple[active.ActiveRule, Any]] = []
    for rule in rules:
        try:
            if rule.params is None:
                raise ValueError("its conditions no longer compile")
            if active.fails(rule.checks, event.record):
                continue
            acting.append((rule, acting_records(crm, rule)))
        except Exception:
            log.exception("automation rule %s cannot fire", rule.id)
    if not acting:
        return
    since = utcnow() - dt.timedelta(hours=1)
    try:
        held = active.holding(crm, entity, acting, event.record.id, trashed, since)
    except Exception:
        session.rollback()
        log.exception("automation rules on %s could not be checked", entity.name)
        return
    firing = [
        (rule, recent) for (rule, _records), (holds, recent) in zip(acting, held, strict=True)
        if holds
    ]  # fmt: skip
    if firing:
        fire_many(crm, entity, event.record.id, key, firing, links)


def fire_many(
    crm: Any,
    entity: Any,
    record_id: int,
    key: str,
    firing: list[tuple[active.ActiveRule, int]],
    links: list[int],
) -> list[int]:
    """Record the runs of the rules that fire on one record event - each with its count of
    recent runs on the record, for the rate limit - in one ``INSERT ... ON CONFLICT DO
    NOTHING`` and one commit, then queue their actions with one job. An occurrence that already
    has its run is left alone (idempotent). Should the batch fail (a rule removed meanwhile),
    each rule fires on its own so that one cannot keep the others from firing. Returns the ids
    of the runs queued."""
    session = crm.session
    rows = []
    for rule, recent in firing:
        note = _note(links, recent)
        rows.append(
            _run_values(rule.id, rule.actions, entity.name, record_id,
                        ENROLMENT if rule.sequence else key,
                        rule.kind.name if rule.kind is not None else "", links, note)
        )  # fmt: skip
    try:
        inserted = _insert_runs(session, rows)
        session.commit()
    except Exception:
        session.rollback()
        log.warning("automation runs on %s %s: batch refused, one by one", entity.name,
                    record_id, exc_info=True)  # fmt: skip
        return _fire_each(crm, entity, record_id, key, firing, links)
    queued = [
        inserted[row["workflow_id"]] for row in rows
        if row["workflow_id"] in inserted and row["status"] == "pending" and row["results"]
    ]  # fmt: skip
    if len(queued) == 1:
        crm.jobs.enqueue(JOB, queued[0], 0)  # each action queues the next: they run in order
    elif queued:
        crm.jobs.enqueue(START_JOB, queued)
    return queued


def _fire_each(
    crm: Any,
    entity: Any,
    record_id: int,
    key: str,
    firing: list[tuple[active.ActiveRule, int]],
    links: list[int],
) -> list[int]:
    queued = []
    for rule, _recent in firing:
        try:
            stored = crm.session.get(AutomationWorkflow, rule.id)
            if stored is None:
                continue
            trigger = rule.kind.name if rule.kind is not None else ""
            run = fire(crm, stored, entity, record_id, key, trigger, links, checked=True)
            if run is not None and run.status == "pending":
                queued.append(run.id)
        except Exception:  # one broken rule must not keep the others from firing
            crm.session.rollback()
            log.exception("automation rule %s failed to fire", rule.id)
    return queued


def _note(links: list[int], recent: int) -> str:
    """Why a run is skipped (the loop guard, the rate limit), or ``""``."""
    if len(links) >= MAX_DEPTH:
        return f"Loop stopped: {len(links)} rules led here."
    if recent >= RATE_LIMIT:
        return "Rate limit: too many runs on this record in the last hour."
    return ""


def _run_values(
    rule_id: int,
    actions: Any,
    entity: str,
    record_id: int,
    key: str,
    trigger: str,
    links: list[int],
    note: str,
) -> dict[str, Any]:
    """The columns of a new run row."""
    now = utcnow()
    return {
        "workflow_id": rule_id,
        "entity": entity,
        "record_id": record_id,
        "occurrence": key[:100],
        "trigger": trigger,
        "status": "skipped" if note else "pending",
        "chain": [*links, rule_id],
        "note": note,
        "results": [
            {"type": a.get("type"), "status": "pending", "attempts": 0, "result": "", "error": ""}
            for a in actions
        ],
        "created_at": now,
        "finished_at": now if note else None,
    }


def _insert_runs(session: Any, rows: list[dict[str, Any]]) -> dict[int, int]:
    """Insert run rows, leaving out those whose (rule, record, occurrence) already has one;
    returns ``{rule id: new run id}`` of those inserted. Core, on the session's connection:
    the rows are not ORM objects to track."""
    connection = session.connection()
    stmt = _insert_statement(connection.dialect.name)
    return {int(rule_id): int(run_id) for rule_id, run_id in connection.execute(stmt, rows)}


@functools.cache
def _insert_statement(dialect: str) -> Any:
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert  # type: ignore[assignment]
    table = cast(Table, AutomationRun.__table__)
    return (
        dialect_insert(table)
        .on_conflict_do_nothing(index_elements=["workflow_id", "record_id", "occurrence"])
        .returning(table.c.workflow_id, table.c.id)
    )


def fire(
    crm: Any,
    rule: AutomationWorkflow,
    entity: Any,
    record_id: int,
    key: str,
    trigger: str,
    links: list[int],
    *,
    trashed: bool = False,
    checked: bool = False,
) -> AutomationRun | None:
    """Check the loop guard, the rate limit and the conditions; record the run and queue its
    actions. ``None`` when the conditions do not hold or the occurrence already ran.
    ``checked``: the caller selected the record with the conditions already."""
    session = crm.session
    if rule.sequence:
        key = ENROLMENT  # one enrolment per record, whatever fired it
    if not checked:
        records = acting_records(crm, rule)
        params = compile_conditions(crm, entity, rule.conditions)
        if not record_matches(records, entity, params, record_id, trashed=trashed):
            return None
    recent = 0 if len(links) >= MAX_DEPTH else _recent_runs(session, rule.id, record_id)
    note = _note(links, recent)
    values = _run_values(rule.id, rule.actions, entity.name, record_id, key, trigger, links, note)
    run = AutomationRun(**values)
    try:
        with session.begin_nested():
            session.add(run)
    except IntegrityError:
        return None  # this occurrence already has its run: idempotent
    session.commit()
    if not note and rule.actions:
        crm.jobs.enqueue(JOB, run.id, 0)  # each action queues the next: they run in order
    return run


def _recent_runs(session: Any, rule_id: int, record_id: int) -> int:
    since = utcnow() - dt.timedelta(hours=1)
    counted = session.scalar(
        select(func.count()).where(
            AutomationRun.workflow_id == rule_id,
            AutomationRun.record_id == record_id,
            AutomationRun.status != "skipped",
            AutomationRun.created_at >= since,
        )
    )
    return int(counted or 0)


def attempt_action(app: Any, run_id: int, index: int) -> str:
    """Job: do action ``index`` of run ``run_id`` once, then queue the next action.

    The step is marked ``started`` (committed) before the action runs and ``done`` after, so a
    worker killed in between leaves it ``started``: :func:`recover_runs` marks it failed rather
    than doing it twice. A failure is retried with a doubled wait (``RETRIES`` times) unless it
    is a refusal, then marked failed; either way the next action goes on. Returns the status.
    """
    crm = app.extensions["crm"]
    session = crm.session
    run = session.get(AutomationRun, run_id)
    if run is None or run.status == "skipped" or index >= len(run.results or []):
        return "gone"
    step = dict(run.results[index])
    if step["status"] in ("done", "failed", "started", "skipped"):
        return str(step["status"])  # a duplicate delivery of the job, or one running now
    held = _held_until(run, index)
    if held is not None:  # queued again by the recovery job before the wait ended
        crm.jobs.enqueue(JOB, run_id, index, eta=held)
        return "waiting"
    rule = session.get(AutomationWorkflow, run.workflow_id)
    if rule is not None and rule.sequence:
        reason = _exit_reason(crm, rule, run)
        if reason:
            _leave(session, run_id, index, reason)
            return "exited"
    first = int(step.get("attempts", 0)) == 0
    step["attempts"] = int(step.get("attempts", 0)) + 1
    step["status"], step["started_at"] = "started", utcnow().isoformat()
    _store(session, run_id, index, step)
    rule = session.get(AutomationWorkflow, run.workflow_id)
    config = rule.actions[index] if rule is not None and index < len(rule.actions) else None
    retry = False
    try:
        if rule is None or config is None:
            raise NotFound("The rule or its action was removed.")
        step["result"] = _do(crm, rule, run, index, config)
        step["status"], step["error"] = "done", ""
    except Exception as exc:
        session.rollback()
        step["error"] = _error_text(exc)
        # refusals (permission, validation, state) and template errors will not change by
        # waiting
        lasting = isinstance(exc, CRMError | TemplateError)
        retry = not lasting and step["attempts"] <= RETRIES
        step["status"] = "retrying" if retry else "failed"
        if not lasting:
            log.warning("automation run %s action %s failed: %s", run_id, index, exc)
    until = None
    if step["status"] == "done" and config is not None and config.get("type") == "wait":
        until = utcnow() + wait_of(config)
        step["until"] = until.isoformat()
        step["result"] = f"Waiting until {until.isoformat(timespec='minutes')}"
    count = _store(session, run_id, index, step)
    if retry:
        delay = BACKOFF_SECONDS * 2 ** (step["attempts"] - 1)
        crm.jobs.enqueue(JOB, run_id, index, delay=delay)
    if first and index + 1 < count:
        crm.jobs.enqueue(JOB, run_id, index + 1, eta=until)
    return str(step["status"])


def start_runs(app: Any, run_ids: list[int]) -> None:
    """Job: the first action of each of several runs fired by one write, in turn (each then
    queues its next action). A run this job could not start stays ``pending``:
    :func:`recover_runs` queues it again."""
    for run_id in run_ids:
        try:
            attempt_action(app, run_id, 0)
        except Exception:
            app.extensions["crm"].session.rollback()
            log.exception("automation run %s could not start", run_id)


#: the occurrence key of a sequence's run: one enrolment per (rule, record)
ENROLMENT = "enrolment"
LEFT = "Left the sequence: "


def _exit_reason(crm: Any, rule: AutomationWorkflow, run: AutomationRun) -> str:
    """Why the record leaves the sequence before its next step, or ``""`` to go on: its exit
    conditions hold, it opted out of e-mail (core consent), or it is gone or out of reach."""
    from crmcore.consent import is_opted_out
    from crmcore.contacts.models import Contact

    try:
        records = acting_records(crm, rule)
        entity = records.entity(run.entity)
        record = records.get(entity, run.record_id)
    except NotFound:
        return "the record is gone or out of the rule's reach."
    if isinstance(record, Contact) and is_opted_out(record):
        return "the contact opted out of e-mail."
    if rule.exit_conditions:
        try:
            params = compile_conditions(crm, entity, rule.exit_conditions)
        except CRMError:
            return "its exit conditions no longer compile."
        if record_matches(records, entity, params, run.record_id):
            return f"its exit conditions hold ({rule.exit_conditions})."
    return ""


def _leave(session: Any, run_id: int, index: int, reason: str) -> None:
    """End a sequence's run before step ``index``: that step and those after are skipped."""
    session.expire_all()
    run = session.scalar(select(AutomationRun).where(AutomationRun.id == run_id).with_for_update())
    results = [dict(r) for r in run.results]
    for step in results[index:]:
        if step["status"] in ("pending", "retrying"):
            step.update(status="skipped", result=LEFT + reason, error="")
    run.results = results
    run.note = (LEFT + reason)[:200]
    run.status = _status(results)
    run.finished_at = utcnow() if run.status in ("done", "failed") else None
    session.commit()


def _held_until(run: AutomationRun, index: int) -> dt.datetime | None:
    """When the wait before step ``index`` ends, if it has not ended yet."""
    if index == 0:
        return None
    before = run.results[index - 1]
    until = before.get("until") if before.get("type") == "wait" else None
    if not until:
        return None
    moment = dt.datetime.fromisoformat(until)
    return moment if moment > utcnow() else None


def _store(session: Any, run_id: int, index: int, step: dict[str, Any]) -> int:
    """Write one step's result into its run (the row locked, so that a retry and the next
    action finishing together keep both results) and commit; returns the number of steps."""
    session.expire_all()
    run = session.scalar(select(AutomationRun).where(AutomationRun.id == run_id).with_for_update())
    results = [dict(r) for r in run.results]
    results[index] = step
    run.results = results
    run.status = _status(results)
    run.finished_at = utcnow() if run.status in ("done", "failed") else None
    session.commit()
    return len(results)


#: a step started this long ago without an outcome was cut short (a killed worker)
STALE_AFTER = dt.timedelta(minutes=15)
CUT_SHORT = "Cut short: the worker stopped while doing it; not done again."
#: a cut-short call-webhook step whose call was in the delivery log already
HANDED_OVER = "Handed to the delivery log before the worker stopped (sent from there): %s"


def recover_runs(app: Any, now: dt.datetime | None = None) -> int:
    """Periodic job: settle runs a stopped worker left behind; returns the steps settled.

    A step ``started`` long ago may or may not have been done: it is marked failed ("cut
    short"), never done again. The first step still ``pending`` in an old run lost its job:
    it is queued again.
    """
    crm = app.extensions["crm"]
    session = crm.session
    now = now or utcnow()
    cutoff = now - STALE_AFTER
    stuck = list(
        session.scalars(
            select(AutomationRun.id).where(
                AutomationRun.status.in_(("pending", "running")),
                AutomationRun.created_at < cutoff,
            )
        )
    )
    settled = 0
    for run_id in stuck:
        run = session.get(AutomationRun, run_id)
        if run is None:
            continue
        for index, step in enumerate(list(run.results)):
            started = step.get("started_at")
            if (
                step["status"] == "started"
                and started
                and (dt.datetime.fromisoformat(started) < cutoff)
            ):
                step = _settle_cut_short(session, run_id, index, step)
                _store(session, run_id, index, step)
                settled += 1
                if index + 1 < len(run.results):
                    crm.jobs.enqueue(JOB, run_id, index + 1)
                break
            if step["status"] == "pending":
                if _held_until(run, index) is not None:
                    break  # waiting: its job is queued for when the wait ends
                crm.jobs.enqueue(JOB, run_id, index)
                settled += 1
                break
            if step["status"] in ("started", "retrying"):
                break
    return settled


def _settle_cut_short(
    session: Any, run_id: int, index: int, step: dict[str, Any]
) -> dict[str, Any]:
    """A started step's outcome when its worker stopped: failed, unless it is a call-webhook
    step that had handed its call to the delivery log (which sends it, at least once)."""
    if step.get("type") == "call_webhook":
        from .webhooks.call import handed_over

        delivery = handed_over(session, run_id, index)
        if delivery is not None:
            return {**step, "status": "done", "result": HANDED_OVER % delivery.delivery_id}
    return {**step, "status": "failed", "error": CUT_SHORT}


def recover_job(app: Any) -> None:
    """Periodic job: :func:`recover_runs` now."""
    recover_runs(app)


def _do(crm: Any, rule: AutomationWorkflow, run: AutomationRun, index: int, config: Any) -> str:
    kinds = catalog.actions(crm)
    kind = kinds.get(config.get("type"))
    if kind is None:
        raise NotFound(f"No action kind {config.get('type')!r} (is its plugin enabled?).")
    records = acting_records(crm, rule)
    entity = records.entity(run.entity)
    try:
        record = records.get(entity, run.record_id)
    except NotFound:
        record = records.get(entity, run.record_id, trashed=True)
    ctx = ActionContext(records, entity, record, rule, crm, run)
    with running(list(run.chain)):
        return kind.run(ctx, {**config, "_position": index})


def _status(results: list[dict[str, Any]]) -> str:
    states = {r["status"] for r in results}
    if states & {"pending", "retrying", "started"}:
        return "running"
    return "failed" if "failed" in states else "done"


def _error_text(exc: Exception) -> str:
    if isinstance(exc, CRMError):
        messages = getattr(exc, "messages", None)
        return f"{exc.detail} {messages}"[:500] if messages else exc.detail[:500]
    return f"{type(exc).__name__}: {exc}"[:500]


# dry run and manual runs ---------------------------------------------------------------------


DRY_RUN_LIMIT = 50


def dry_run(crm: Any, rule: AutomationWorkflow, limit: int = DRY_RUN_LIMIT) -> dict[str, Any]:
    """Which records meet the rule's conditions now (in its acting scope) and what its actions
    would do to each; nothing is written."""
    records = acting_records(crm, rule)
    entity = records.entity(rule.entity)
    params = compile_conditions(crm, entity, rule.conditions)
    stmt = matching(records, entity, params)
    kind = catalog.triggers(crm).get(str((rule.trigger or {}).get("type")))
    if kind is not None and kind.due is not None:
        due = kind.due(crm, rule, entity, utcnow())
        if due is None:
            return {"total": 0, "records": [], "actions": _plan(crm, rule, entity)}
        stmt = stmt.where(due.condition)
    total = records.count(entity, stmt)
    rows = list(records.session.scalars(stmt.order_by(entity.model.id).limit(limit)))
    return {
        "total": total,
        "records": [{"id": r.id, "title": entity.display(r)} for r in rows],
        "actions": _plan(crm, rule, entity),
    }


def _plan(crm: Any, rule: AutomationWorkflow, entity: Any) -> list[str]:
    """What each of the rule's actions would do, in words."""
    kinds = catalog.actions(crm)
    plan = []
    for action in rule.actions:
        kind = kinds.get(action.get("type"))
        if kind is None:
            plan.append(f"Unknown action {action.get('type')!r}")
        elif kind.describe is not None:
            plan.append(kind.describe(action, entity))
        else:
            plan.append(kind.label)
    return plan


def run_now(crm: Any, rule: AutomationWorkflow, limit: int = 1000) -> list[AutomationRun]:
    """Run the rule on every record meeting its conditions now (``crm automation run``): one
    run each, keyed by this manual occurrence."""
    records = acting_records(crm, rule)
    entity = records.entity(rule.entity)
    params = compile_conditions(crm, entity, rule.conditions)
    ids = list(
        records.session.scalars(
            matching(records, entity, params)
            .with_only_columns(entity.model.id)
            .order_by(entity.model.id)
            .limit(limit)
        )
    )
    key = f"manual:{uuid.uuid4().hex}"
    out = []
    for record_id in ids:
        run = fire(crm, rule, entity, record_id, key, "manual", chain())
        if run is not None:
            out.append(run)
    return out


def on_action(event: Any) -> None:
    """Fire the rules whose trigger is the record action ``event.action`` (after its commit);
    each performance is an occurrence of its own."""
    on_event(
        ActionEvent(
            entity=event.entity,
            record=event.record,
            performed=event.action,
            user=event.user,
            records=event.records,
            changes=dict(event.changes),
            key=f"action:{event.action}:{uuid.uuid4().hex}",
        )
    )
