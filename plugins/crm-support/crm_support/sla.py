"""SLA targets: due times on tickets, pausing while pending, and the status ok/warning/breached."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crmcore.db import utcnow
from crmcore.settings import get_settings

from .businesstime import BusinessCalendar
from .models import OPEN_STATUSES, SlaPolicy, Ticket

log = logging.getLogger(__name__)


def calendar(session: Session) -> BusinessCalendar:
    """The instance's business calendar, read from its settings."""
    return BusinessCalendar.from_settings(get_settings(session))


def policy_for(session: Session, priority: str | None) -> SlaPolicy | None:
    return session.scalar(
        select(SlaPolicy).where(
            SlaPolicy.priority == (priority or "normal"), SlaPolicy.deleted_at.is_(None)
        )
    )


def due_times(
    session: Session, priority: str | None, start: dt.datetime
) -> tuple[dt.datetime | None, dt.datetime | None]:
    """First-response and resolution due times of a ticket opened at ``start``."""
    policy = policy_for(session, priority)
    if policy is None:
        return None, None
    cal = calendar(session)
    return cal.add(start, policy.first_response_minutes), cal.add(start, policy.resolution_minutes)


def on_status_change(
    session: Session, ticket: Ticket, new: str, values: dict[str, Any], now: dt.datetime
) -> None:
    """Pause the clock when a ticket waits on the customer, resume it, stamp solving."""
    old = ticket.status
    if new == "pending" and old != "pending":
        values["sla_paused_at"] = now
    if old == "pending" and new != "pending" and ticket.sla_paused_at is not None:
        cal = calendar(session)
        paused = cal.minutes_between(ticket.sla_paused_at, now)
        if ticket.first_responded_at is None and ticket.first_response_due_at is not None:
            values["first_response_due_at"] = cal.add(ticket.first_response_due_at, paused)
        if ticket.resolution_due_at is not None:
            values["resolution_due_at"] = cal.add(ticket.resolution_due_at, paused)
        values["sla_paused_at"] = None
    if new in ("solved", "closed") and ticket.solved_at is None:
        values["solved_at"] = now
    if new in OPEN_STATUSES and ticket.solved_at is not None:
        values["solved_at"] = None


def evaluate(
    session: Session, ticket: Ticket, now: dt.datetime | None = None
) -> tuple[str | None, bool]:
    """``(sla_status, breached)`` of ``ticket`` at ``now``; ``(None, False)`` without targets.

    A ticket is *breached* once any target passed unmet (it stays so), *warning* when less
    than ``100 - warn_percent`` % of a target's business time is left, else *ok*. While it is
    pending the status does not change.
    """
    now = now or utcnow()
    if ticket.first_response_due_at is None and ticket.resolution_due_at is None:
        return None, False
    if ticket.status == "pending" and ticket.sla_status:
        return ticket.sla_status, ticket.sla_breached
    breached = ticket.sla_breached
    targets: list[tuple[dt.datetime, dt.datetime | None, str]] = []
    if ticket.first_response_due_at is not None:
        targets.append(
            (ticket.first_response_due_at, ticket.first_responded_at, "first_response_minutes")
        )
    if ticket.resolution_due_at is not None:
        targets.append((ticket.resolution_due_at, ticket.solved_at, "resolution_minutes"))
    for due, met, _target in targets:
        if (met is not None and met > due) or (met is None and now > due):
            breached = True
    if breached:
        return "breached", True
    policy = policy_for(session, ticket.priority)
    if policy is None or ticket.status in ("solved", "closed"):
        return "ok", False
    cal = calendar(session)
    for due, met, target in targets:
        minutes = getattr(policy, target)
        left = cal.minutes_between(now, due)
        if met is None and left <= minutes * (100 - policy.warn_percent) / 100:
            return "warning", False
    return "ok", False


@dataclass(frozen=True)
class Clock:
    """Where a ticket stands against its next unmet target, in business minutes.

    :param state: ``"running"``, ``"paused"`` (pending on the customer), ``"breached"`` or
        ``"met"`` (every target met).
    :param target: ``"first_response"`` or ``"resolution"``: the target the clock counts to.
    :param minutes_left: business minutes until it is due (negative once it is overdue).
    :param due: when it is due.
    """

    state: str
    target: str | None = None
    minutes_left: int = 0
    due: dt.datetime | None = None


def clock(
    session: Session,
    ticket: Ticket,
    now: dt.datetime | None = None,
    cal: BusinessCalendar | None = None,
) -> Clock | None:
    """The ticket's SLA clock at ``now``; ``None`` when it has no targets. ``cal``: the
    business calendar, when the caller reads it once for many tickets."""
    now = now or utcnow()
    targets = (
        ("first_response", ticket.first_response_due_at, ticket.first_responded_at),
        ("resolution", ticket.resolution_due_at, ticket.solved_at),
    )
    if all(due is None for _name, due, _met in targets):
        return None
    overdue = any(met is not None and due is not None and met > due for _n, due, met in targets)
    pending = [(name, due) for name, due, met in targets if due is not None and met is None]
    if not pending:
        return Clock("breached" if overdue or ticket.sla_breached else "met")
    name, due = min(pending, key=lambda item: item[1])
    since = ticket.sla_paused_at if ticket.status == "pending" and ticket.sla_paused_at else now
    left = round((cal or calendar(session)).minutes_between(since, due))
    if overdue or ticket.sla_breached or left < 0:
        state = "breached"
    else:
        state = "paused" if since is not now else "running"
    return Clock(state, name, left, due)


def describe(minutes: int) -> str:
    """``minutes`` of business time as the clock shows them: "2 h 05 min", "45 min"."""
    minutes = abs(minutes)
    hours, rest = divmod(minutes, 60)
    return f"{hours} h {rest:02d} min" if hours else f"{rest} min"
