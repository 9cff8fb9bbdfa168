"""Time-based triggers: relative to a date field, yearly on it (birthdays), or on a schedule.

``{"type": "date", "field": "sent_at", "offset_days": 3}`` fires 3 days after ``sent_at``
(``-7`` on ``close_date``: a week before); ``"yearly": true`` fires every year on the day and
month of the field (a ``custom.birthday`` date field); ``{"type": "schedule", "time": "08:00",
"weekdays": [0, 1, 2, 3, 4]}`` fires every weekday at 08:00 in the instance time zone, on every
record meeting the conditions.

They are not fired by record events but by the periodic job :func:`fire_due`: for each such
rule, one SQL query selects the ids of the due records that meet the conditions in the rule's
scope and have no run yet - never loading the records themselves, in batches of ``BATCH``.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from crmcore import ValidationError
from crmcore.db import utcnow
from crmcore.settings import time_zone
from sqlalchemy import ColumnElement, Date, and_, exists, func, literal, select, true
from sqlalchemy import types as satypes

from .i18n import text as _
from .models import AutomationRun, AutomationWorkflow

log = logging.getLogger(__name__)

#: how late a due record is still picked up (the job was down, the record was out of scope)
LOOKBACK = dt.timedelta(days=2)
#: records fired per rule and job run; the next run goes on where this one stopped
BATCH = 500
_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True)
class Due:
    """Which records a time-based rule fires on now.

    :param condition: the SQL condition on the entity's rows.
    :param prefix: the occurrence key, or its beginning when ``value`` completes it.
    :param since: records with a run of the rule since then are left out.
    :param value: a column whose value ends each record's key (its date), or ``None``.
    """

    condition: ColumnElement[bool]
    prefix: str
    since: dt.datetime
    value: Any = None


def local_now(crm: Any, now: dt.datetime | None = None) -> dt.datetime:
    """``now`` (default: the current time) in the instance's time zone."""
    try:
        zone = ZoneInfo(time_zone(crm))
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return (now or utcnow()).astimezone(zone)


# the date trigger ------------------------------------------------------------------------------


def _date_kind(crm: Any, entity: Any, name: Any) -> str | None:
    """``date``, ``datetime`` or ``custom`` (a custom date field, stored as ISO text)."""
    if not isinstance(name, str):
        return None
    if name.startswith("custom.") and entity.has_custom_fields:
        wanted = name.removeprefix("custom.")
        for definition in crm.custom_field_defs(crm.session, entity):
            if definition.name == wanted and definition.type == "date":
                return "custom"
        return None
    column = entity.columns.get(name)
    if column is None:
        return None
    kind = column.type
    if isinstance(kind, satypes.TypeDecorator):
        kind = kind.impl_instance
    if isinstance(kind, satypes.DateTime):
        return "datetime"
    if isinstance(kind, Date):
        return "date"
    return None


def check_date(config: Mapping[str, Any], entity: Any, crm: Any) -> None:
    """A date field of the entity and a whole number of days."""
    if _date_kind(crm, entity, config.get("field")) is None:
        raise ValidationError(
            {"trigger": [_("No date field %(name)s on %(entity)s.", name=repr(config.get("field")),
                           entity=entity.plural)]}
        )
    offset = config.get("offset_days", 0)
    if not isinstance(offset, int) or isinstance(offset, bool) or not -3650 <= offset <= 3650:
        raise ValidationError(
            {"trigger": [_("offset_days is a whole number from -3650 to 3650.")]}
        )
    if not isinstance(config.get("yearly", False), bool):
        raise ValidationError({"trigger": [_("yearly is true or false.")]})


def _expression(entity: Any, name: str) -> Any:
    if name.startswith("custom."):
        return entity.model.custom_fields[name.removeprefix("custom.")].as_string()
    return entity.attribute(name)


def _month_day(expression: Any, kind: str, dialect: str) -> Any:
    if kind == "custom":
        return func.substr(expression, 6, 5)
    if dialect == "postgresql":
        return func.to_char(expression, "MM-DD")
    return func.strftime("%m-%d", expression)


def date_due(crm: Any, rule: AutomationWorkflow, entity: Any, now: dt.datetime) -> Due | None:
    """Records whose date field plus ``offset_days`` is now (within ``LOOKBACK``), or, yearly,
    whose day and month are today's (minus the offset) in the instance time zone."""
    config = rule.trigger
    name = str(config["field"])
    kind = _date_kind(crm, entity, name)
    if kind is None:
        return None
    offset = dt.timedelta(days=int(config.get("offset_days", 0)))
    column = _expression(entity, name)
    local = local_now(crm, now)
    day_start = local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(dt.UTC)
    if config.get("yearly"):
        dialect = crm.session.get_bind().dialect.name
        target = (local - offset).date()
        days = {target.strftime("%m-%d")}
        if target.month == 2 and target.day == 28 and not _leap(target.year):
            days.add("02-29")  # born on 29 February: celebrated on the 28th in common years
        condition = _month_day(column, kind, dialect).in_(sorted(days))
        return Due(condition, f"yearly:{local.year}", day_start)
    if kind == "datetime":
        upper: Any = now - offset
        lower: Any = upper - LOOKBACK
    else:
        upper = (local - offset).date()
        lower = upper - LOOKBACK
        if kind == "custom":
            upper, lower = upper.isoformat(), lower.isoformat()
    condition = and_(column.is_not(None), column <= upper, column > lower)
    return Due(condition, "date:", now - 2 * LOOKBACK, value=column)


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


# the schedule trigger -------------------------------------------------------------------------


def check_schedule(config: Mapping[str, Any], _entity: Any, _crm: Any) -> None:
    """``time`` as HH:MM and ``weekdays`` as numbers 0 (Monday) to 6."""
    if not isinstance(config.get("time"), str) or not _TIME.match(config["time"]):
        raise ValidationError({"trigger": [_("time is HH:MM, from 00:00 to 23:59.")]})
    weekdays = config.get("weekdays", list(range(7)))
    if (
        not isinstance(weekdays, list)
        or not weekdays
        or not all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d <= 6 for d in weekdays)
    ):
        raise ValidationError(
            {"trigger": [_("weekdays are numbers from 0 (Monday) to 6 (Sunday).")]}
        )


def schedule_due(crm: Any, rule: AutomationWorkflow, _entity: Any, now: dt.datetime) -> Due | None:
    """Every record meeting the conditions, once the day's time has come on a chosen weekday."""
    config = rule.trigger
    local = local_now(crm, now)
    if local.weekday() not in config.get("weekdays", list(range(7))):
        return None
    hour, minute = (int(part) for part in str(config["time"]).split(":"))
    moment = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if local < moment:
        return None
    return Due(true(), f"schedule:{moment.date().isoformat()}", moment.astimezone(dt.UTC))


# the job --------------------------------------------------------------------------------------


def fire_due_job(app: Any) -> None:
    """Periodic job: :func:`fire_due` now."""
    fire_due(app)


def fire_due(app: Any, now: dt.datetime | None = None) -> int:
    """Periodic job: fire every time-based rule on its due records; returns the runs made."""
    from . import catalog
    from .conditions import compile_conditions, matching
    from .engine import acting_records, fire

    crm = app.extensions["crm"]
    session = crm.session
    now = now or utcnow()
    kinds = catalog.triggers(crm)
    timed = [name for name, kind in kinds.items() if kind.due is not None]
    rules = list(
        session.scalars(
            select(AutomationWorkflow).where(
                AutomationWorkflow.active.is_(True),
                AutomationWorkflow.deleted_at.is_(None),
            )
        )
    )
    made = 0
    for rule in rules:
        kind = kinds.get(str((rule.trigger or {}).get("type")))
        if kind is None or kind.name not in timed or kind.due is None:
            continue
        try:
            records = acting_records(crm, rule)
            entity = records.entity(rule.entity)
            due = kind.due(crm, rule, entity, now)
            if due is None:
                continue
            params = compile_conditions(crm, entity, rule.conditions)
            model = entity.model
            ran = exists().where(
                AutomationRun.workflow_id == rule.id,
                AutomationRun.record_id == model.id,
                # a sequence enrols a record once, ever
                true() if rule.sequence else AutomationRun.created_at >= due.since,
            )
            value = due.value if due.value is not None else literal(None)
            stmt = (
                matching(records, entity, params)
                .where(due.condition, ~ran)
                .with_only_columns(model.id, value)
                .order_by(model.id)
                .limit(BATCH)
            )
            for record_id, stamp in session.execute(stmt).all():
                key = due.prefix + (_iso(stamp) if due.value is not None else "")
                if fire(crm, rule, entity, record_id, key, kind.name, [], checked=True):
                    made += 1
        except Exception:  # one broken rule must not stop the others
            session.rollback()
            log.exception("time-based automation rule %s failed", rule.id)
    return made


def _iso(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)
