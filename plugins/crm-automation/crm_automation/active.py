"""The active rules of each entity, kept on the app so that a record write does not load and
compile them again.

The cache is checked against a stamp of the rules table (count, sum of versions, latest
change) - one cheap aggregate query per request, job or command - so a rule saved, switched
off or removed by any process (another web node, a worker, the CLI) is seen by the next
request, and at once in the process that saved it. The rules' conditions are compiled once per
stamp; whether they hold for the record that fired is judged on the record when that is exact
(:func:`cannot_hold`, only ever to leave a rule out), else asked of the database in one query
for all the entity's rules (:func:`holding`), each in its own acting scope, exactly as
:func:`crm_automation.conditions.record_matches` would.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from flask import g
from sqlalchemy import Boolean, String, func, select

from . import catalog
from .conditions import compile_conditions, matching
from .models import AutomationRun, AutomationWorkflow
from .triggers import TriggerType

log = logging.getLogger(__name__)

KEY = "automation_active_rules"
#: set on ``g`` once the stamp was read in this request, job or command
CHECKED = "automation_rules_checked"


@dataclass(frozen=True)
class ActiveRule:
    """What the engine needs of an active rule to decide whether it fires."""

    id: int
    entity: str
    trigger: dict[str, Any]
    system: bool
    owner_id: int | None
    kind: TriggerType | None
    #: compiled conditions; ``None`` when they no longer compile (the rule then fails loudly)
    params: Any
    #: the action settings as saved (a run gets one result slot per action)
    actions: tuple[Any, ...] = ()
    sequence: bool = False
    #: the conditions judged on the record in memory (:func:`checks_of`)
    checks: tuple[tuple[str, str, Any], ...] = ()


@dataclass
class _Cache:
    stamp: tuple[Any, ...] = ()
    by_entity: dict[str, list[ActiveRule]] = field(default_factory=dict)


def _stamp(crm: Any) -> tuple[Any, ...]:
    row = crm.session.execute(
        select(
            func.count(AutomationWorkflow.id),
            func.coalesce(func.sum(AutomationWorkflow.version), 0),
            func.max(AutomationWorkflow.updated_at),
        )
    ).one()
    return (*tuple(row), frozenset(crm.enabled_plugins()))


def forget(crm: Any) -> None:
    """Drop the cached rules (a rule was saved in this process)."""
    crm.app.extensions.pop(KEY, None)
    g.pop(CHECKED, None)


def rules_of(crm: Any, entity: Any) -> list[ActiveRule]:
    """The active rules on ``entity``, from the cache when no rule changed since it was made.

    The stamp is read once per request, job or command (like the enabled plugins), so a bulk
    write pays for it once; a rule saved in the same one drops the cache at once."""
    cache = crm.app.extensions.get(KEY)
    if cache is None or not g.get(CHECKED):
        stamp = _stamp(crm)
        if cache is None or cache.stamp != stamp:
            cache = _Cache(stamp, _load(crm))
            crm.app.extensions[KEY] = cache
        g.setdefault(CHECKED, True)
    return list(cache.by_entity.get(entity.name, ()))


def _load(crm: Any) -> dict[str, list[ActiveRule]]:
    kinds = catalog.triggers(crm)
    found: dict[str, list[ActiveRule]] = {}
    rows = crm.session.scalars(
        select(AutomationWorkflow)
        .where(AutomationWorkflow.active.is_(True), AutomationWorkflow.deleted_at.is_(None))
        .order_by(AutomationWorkflow.id)
    )
    for rule in rows:
        kind = kinds.get(str((rule.trigger or {}).get("type")))
        params = None
        checks: tuple[tuple[str, str, Any], ...] = ()
        try:
            entity = crm.registry.get(rule.entity)
            params = compile_conditions(crm, entity, rule.conditions)
            checks = checks_of(entity, params)
        except Exception:  # the rule fails when it fires, with its error in the log
            log.warning("automation rule %s: conditions no longer compile", rule.id, exc_info=True)
        found.setdefault(rule.entity, []).append(
            ActiveRule(
                rule.id,
                rule.entity,
                dict(rule.trigger or {}),
                bool(rule.system),
                rule.owner_id,
                kind,
                params,
                tuple(rule.actions or ()),
                bool(rule.sequence),
                checks,
            )
        )
    return found


def cannot_hold(entity: Any, params: Any, record: Any) -> bool:
    """Whether the record in memory already fails one of the conditions, so that the query is
    not needed (:func:`checks_of` then :func:`fails`)."""
    return fails(checks_of(entity, params), record)


def checks_of(entity: Any, params: Any) -> tuple[tuple[str, str, Any], ...]:
    """The conditions that can be judged exactly on a record in memory, as ``(field, how,
    value)``, worked out once per rule. Only ever used to leave a rule out, never to let one
    fire: a condition not judged here counts as "may hold" and the database decides (scope
    included).

    Judged: ``field=text`` on a text column (the database compares lower-cased; text that
    differs even case-folded differs there too), ``field=true/false`` on a boolean column,
    ``tags=x`` (the list lacks the tag) and ``field__contains=text`` on a text column when both
    texts are ASCII (``ILIKE`` on PostgreSQL and SQLite's ``LIKE`` then fold case alike)."""
    checks: list[tuple[str, str, Any]] = []
    for name, op, value in params.filters:
        if name.startswith("custom.") or name not in entity.columns:
            continue
        kind = entity.columns[name].type
        if op == "contains":
            if isinstance(kind, String) and isinstance(value, str) and value.isascii():
                checks.append((name, "contains", value.lower()))
        elif op != "eq":
            continue
        elif name == "tags":
            if isinstance(value, str):
                checks.append((name, "tag", value))
        elif isinstance(value, bool) and isinstance(kind, Boolean):
            checks.append((name, "bool", value))
        elif isinstance(value, str) and isinstance(kind, String):
            checks.append((name, "text", value.casefold()))
    return tuple(checks)


def fails(checks: tuple[tuple[str, str, Any], ...], record: Any) -> bool:
    """Whether the record surely fails one of the ``checks`` of :func:`checks_of`."""
    for name, how, value in checks:
        current = getattr(record, name, None)
        if how == "tag":
            if isinstance(current, list) and value not in current:
                return True
        elif how == "bool":
            if current is None or (isinstance(current, bool) and current != value):
                return True
        elif current is None:  # NULL is neither equal to a text nor contains one
            return True
        elif how == "text":
            if isinstance(current, str) and current.casefold() != value:
                return True
        elif isinstance(current, str) and current.isascii() and value not in current.lower():
            return True
    return False


def holding(
    crm: Any,
    entity: Any,
    rules: list[tuple[ActiveRule, Any]],
    record_id: int,
    trashed: bool,
    since: Any = None,
) -> list[tuple[bool, int]]:
    """For each (rule, its acting record service): whether the record is readable by that
    service and meets the rule's conditions and, when ``since`` is given, how many runs (not
    skipped) the rule had on the record since then (the rate limit) - all asked in one query."""
    if not rules:
        return []
    columns: list[Any] = []
    for rule, records in rules:
        stmt = matching(records, entity, rule.params, trashed).where(entity.model.id == record_id)
        columns.append(stmt.exists())
        if since is not None:
            columns.append(
                select(func.count())
                .where(
                    AutomationRun.workflow_id == rule.id,
                    AutomationRun.record_id == record_id,
                    AutomationRun.status != "skipped",
                    AutomationRun.created_at >= since,
                )
                .scalar_subquery()
            )
    row = list(crm.session.execute(select(*columns)).one())
    if since is None:
        return [(bool(value), 0) for value in row]
    return [(bool(row[i]), int(row[i + 1] or 0)) for i in range(0, len(row), 2)]
