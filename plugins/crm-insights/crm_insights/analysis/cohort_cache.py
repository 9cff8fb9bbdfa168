"""Cohort tables computed once per reader's scope and kept until the orders change.

The key of an entry is the scoped aggregate statement itself (its SQL and bound parameters:
the owner or nothing, as the reader's rights put them in the query) and, for a team scope, the
ids of the reader's teammates now (the statement only names the reader), so two readers share
an entry only when their queries select the same orders - a scope is never crossed, and a
change of team is seen at once.
Each entry also holds the orders' *fingerprint* (row count, highest id, latest ``updated_at``
of the whole table, one cheap indexed query): a created, changed, trashed, restored or purged
order changes it, and the next view computes the table again. :data:`TTL` bounds the age of an
entry in any case (changes written around the record service, clocks going back).

The cache lives on the app (``app.extensions``), one per process: a second node computes its
own entry once, and every node checks the fingerprint, so none shows stale figures.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from .cohorts import DEFAULT_MONTHS, Cohort, cohort_statement, counts, shape
from .rfm import orders_entity

#: seconds an entry is used at most, even when the orders did not change
TTL = 600.0
#: entries kept per process (least recently used dropped first)
MAX_ENTRIES = 256
EXTENSION = "crm_insights.cohorts"


@dataclass
class _Entry:
    fingerprint: tuple[Any, ...]
    at: float
    rows: list[tuple[str, str, int]]


class CohortCache:
    """Aggregates by statement key, with their orders fingerprint and time; thread-safe."""

    def __init__(self, ttl: float = TTL, size: int = MAX_ENTRIES) -> None:
        self.ttl = ttl
        self.size = size
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self.computed = 0  # how many times an aggregate was computed (tests, benchmarks)

    def get(self, key: str, fingerprint: tuple[Any, ...]) -> list[tuple[str, str, int]] | None:
        """The rows stored under ``key`` for this ``fingerprint``, unless too old."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry.fingerprint != fingerprint or time.monotonic() - entry.at > self.ttl:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry.rows

    def put(self, key: str, fingerprint: tuple[Any, ...], rows: list[tuple[str, str, int]]) -> None:
        """Store ``rows`` under ``key``, dropping the least recently used beyond the size."""
        with self._lock:
            self.computed += 1
            self._entries[key] = _Entry(fingerprint, time.monotonic(), rows)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        """Forget every entry (and the count of computations)."""
        with self._lock:
            self._entries.clear()
            self.computed = 0


def cache_of(crm: Any) -> CohortCache:
    """The cohort cache of ``crm``'s app (made on first use)."""
    cache: CohortCache = crm.app.extensions.setdefault(EXTENSION, CohortCache())
    return cache


def statement_key(stmt: Any, session: Any) -> str:
    """The SQL of ``stmt`` for the session's database with its bound parameters: the same
    text only for the same query over the same rows."""
    compiled = stmt.compile(dialect=session.get_bind().dialect)
    params = sorted((k, repr(v)) for k, v in compiled.params.items())
    return f"{compiled}\n{params!r}"


def team_key(records: Any) -> str:
    """The reader's teammates when they read orders by team (else nothing)."""
    access = records.access
    entity = orders_entity(records.crm)
    if entity is None or access.user_id is None or access.scope(entity, "read") != "team":
        return ""
    ids = sorted(int(i) for i in records.session.scalars(access.teammate_ids()))
    return f"\nteam {ids}"


def fingerprint(crm: Any, session: Any) -> tuple[Any, ...]:
    """Row count, highest id and latest ``updated_at`` of the whole orders table."""
    entity = orders_entity(crm)
    if entity is None:
        return ()
    model = entity.model
    row = session.execute(
        select(func.count(), func.max(model.id), func.max(model.updated_at)).select_from(model)
    ).one()
    return tuple(str(v) for v in row)


def cached_cohorts(records: Any, months: int = DEFAULT_MONTHS) -> list[Cohort] | None:
    """:func:`.cohorts.cohorts` from the cache when the reader's query and the orders are
    unchanged since it was computed; else computed and stored."""
    stmt = cohort_statement(records)
    if stmt is None:
        return None
    cache = cache_of(records.crm)
    key = statement_key(stmt, records.session) + team_key(records)
    stamp = fingerprint(records.crm, records.session)
    rows = cache.get(key, stamp)
    if rows is None:
        rows = counts(records.session, stmt)
        cache.put(key, stamp, rows)
    return shape(rows, months)
