"""Cohort retention: customers grouped by the month of their first order, and the share of each
cohort ordering again 1, 2, ... months later. Built from the orders the reader may read."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Date, cast, distinct, func, select

from .rfm import counted, orders_entity

MAX_MONTHS = 36
DEFAULT_MONTHS = 12


@dataclass
class Cohort:
    """One first-purchase month: its customers and, per month since, how many ordered."""

    month: str
    customers: int
    active: list[int] = field(default_factory=list)

    def rates(self) -> list[float]:
        """Share of the cohort (0-100, one decimal) ordering in each month since the first."""
        return [round(100 * n / self.customers, 1) for n in self.active]


def month_key(column: Any, dialect: str) -> Any:
    """``YYYY-MM`` of a date column, in the SQL of ``dialect``."""
    if dialect == "postgresql":
        return func.to_char(cast(column, Date), "YYYY-MM")
    return func.strftime("%Y-%m", column)


def months_between(start: str, end: str) -> int:
    """Whole months from ``YYYY-MM`` ``start`` to ``end``."""
    return (int(end[:4]) - int(start[:4])) * 12 + int(end[5:7]) - int(start[5:7])


def cohorts(records: Any, months: int = DEFAULT_MONTHS) -> list[Cohort] | None:
    """The last ``months`` cohorts, oldest first, with up to ``months`` months since each
    first order; ``None`` when no plugin providing orders is enabled or the reader may not
    read orders. Computed afresh: pages use :func:`.cohort_cache.cached_cohorts`."""
    stmt = cohort_statement(records)
    if stmt is None:
        return None
    return shape(counts(records.session, stmt), months)


def cohort_statement(records: Any) -> Any | None:
    """The scoped aggregate ``(cohort month, order month, customers)`` over the orders the
    reader may read; ``None`` when orders are not available to them."""
    entity = orders_entity(records.crm)
    if entity is None or not records.access.can(entity, "read"):
        return None
    dialect = records.session.get_bind().dialect.name
    model = entity.model
    orders = records.query(entity).where(*counted(model)).subquery()
    first = (
        select(orders.c.contact_id, func.min(orders.c.order_date).label("first"))
        .group_by(orders.c.contact_id)
        .subquery()
    )
    cohort = month_key(first.c.first, dialect)
    month = month_key(orders.c.order_date, dialect)
    return (
        select(cohort, month, func.count(distinct(orders.c.contact_id)))
        .join(first, first.c.contact_id == orders.c.contact_id)
        .group_by(cohort, month)
    )


def counts(session: Any, stmt: Any) -> list[tuple[str, str, int]]:
    """The rows of :func:`cohort_statement`: ``(cohort, month, customers)``."""
    return [(str(start), str(when), int(n)) for start, when, n in session.execute(stmt)]


def shape(rows: list[tuple[str, str, int]], months: int) -> list[Cohort]:
    """The last ``months`` cohorts of the aggregate ``rows``, oldest first."""
    table: dict[str, dict[int, int]] = {}
    latest = ""
    for start, when, count in rows:
        latest = max(latest, when)
        offset = months_between(start, when)
        table.setdefault(start, {})[offset] = count
    keys = sorted(table)[-months:]
    result = []
    for key in keys:
        by_offset = table[key]
        size = by_offset.get(0, 0)
        span = min(months, months_between(key, latest) + 1)
        result.append(Cohort(key, size, [by_offset.get(i, 0) for i in range(span)]))
    return result
