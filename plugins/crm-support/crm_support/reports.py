"""Support reports, computed inside the reader's permission scope.

Each report takes the reader's record service: tickets come from ``records.query("tickets")``,
so a user sees figures only about tickets they may read.
"""

from __future__ import annotations

import datetime as dt
from statistics import median
from typing import Any

from sqlalchemy import func, select

from crmcore.db import utcnow

from .models import OPEN_STATUSES, PRIORITIES, Feedback, Ticket

#: Reports cover tickets created in the last ``days`` days (default 30, at most 366).
DEFAULT_DAYS = 30


def _scoped(records: Any, days: int | None) -> Any:
    stmt = records.query("tickets").where(Ticket.merged_into_id.is_(None))
    if days:
        stmt = stmt.where(Ticket.created_at >= utcnow() - dt.timedelta(days=days))
    return stmt.subquery()


def backlog(records: Any, days: int | None = None) -> dict[str, Any]:
    """Open tickets by status and by priority, and how many are unassigned."""
    t = _scoped(records, days)
    rows = records.session.execute(
        select(t.c.status, t.c.priority, func.count())
        .where(t.c.status.in_(OPEN_STATUSES))
        .group_by(t.c.status, t.c.priority)
    ).all()
    by_status = {s: 0 for s in OPEN_STATUSES}
    by_priority = {p: 0 for p in PRIORITIES}
    for status, priority, count in rows:
        by_status[status] = by_status.get(status, 0) + count
        by_priority[priority] = by_priority.get(priority, 0) + count
    unassigned = records.session.scalar(
        select(func.count()).where(t.c.status.in_(OPEN_STATUSES), t.c.assignee_id.is_(None))
    )
    return {
        "open": sum(by_status.values()),
        "unassigned": unassigned or 0,
        "by_status": by_status,
        "by_priority": by_priority,
    }


def _minutes(pairs: list[tuple[dt.datetime, dt.datetime]]) -> dict[str, Any]:
    values = [(end - start).total_seconds() / 60 for start, end in pairs if start and end]
    if not values:
        return {"count": 0, "average_minutes": None, "median_minutes": None}
    return {
        "count": len(values),
        "average_minutes": round(sum(values) / len(values), 1),
        "median_minutes": round(median(values), 1),
    }


def response_times(records: Any, days: int | None = DEFAULT_DAYS) -> dict[str, Any]:
    """First-response and resolution times (wall-clock minutes) of tickets created lately."""
    t = _scoped(records, days)
    rows = records.session.execute(
        select(t.c.created_at, t.c.first_responded_at, t.c.solved_at)
    ).all()
    return {
        "days": days,
        "first_response": _minutes([(r[0], r[1]) for r in rows if r[1]]),
        "resolution": _minutes([(r[0], r[2]) for r in rows if r[2]]),
    }


def sla_compliance(records: Any, days: int | None = DEFAULT_DAYS) -> dict[str, Any]:
    """Tickets with SLA targets by status, and the share that kept (or still keeps) them."""
    t = _scoped(records, days)
    rows = dict(
        records.session.execute(
            select(t.c.sla_status, func.count())
            .where(t.c.sla_status.is_not(None))
            .group_by(t.c.sla_status)
        ).all()
    )
    counts = {k: int(rows.get(k, 0)) for k in ("ok", "warning", "breached")}
    total = sum(counts.values())
    kept = counts["ok"] + counts["warning"]
    return {
        "days": days,
        **counts,
        "total": total,
        "compliance_percent": round(100 * kept / total, 1) if total else None,
    }


def satisfaction(records: Any, days: int | None = DEFAULT_DAYS) -> dict[str, Any]:
    """Survey answers on readable tickets: how many, the average and each rating's count."""
    t = _scoped(records, days)
    rows = dict(
        records.session.execute(
            select(Feedback.rating, func.count())
            .join(t, t.c.id == Feedback.ticket_id)
            .group_by(Feedback.rating)
        ).all()
    )
    distribution = {str(n): int(rows.get(n, 0)) for n in range(1, 6)}
    answers = sum(distribution.values())
    total = sum(int(k) * v for k, v in distribution.items())
    return {
        "days": days,
        "answers": answers,
        "average": round(total / answers, 2) if answers else None,
        "distribution": distribution,
    }


REPORTS = {
    "backlog": backlog,
    "response-times": response_times,
    "sla": sla_compliance,
    "satisfaction": satisfaction,
}
