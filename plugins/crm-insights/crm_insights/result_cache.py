"""Computed aggregates kept in the database, for every process, until their data change.

An entry's key is the SHA-256 of its kind and the reader's scoped statement (its SQL and bound
parameters: the owner or nothing, as the reader's rights put them in the query, the filters,
the date range) and, for a team scope, the ids of the reader's teammates now (the statement
only names the reader): two readers share an entry only when their queries select the same
rows - a scope is never crossed, and a change of team is seen at once.

Each entry holds the *fingerprint* of the tables it read (row count, highest id, latest
``updated_at`` of each whole table, one cheap indexed query each): a created, changed, trashed,
restored or purged record changes it, and the next view computes the aggregate again.
:data:`TTL` bounds the age of an entry in any case (changes written around the record service),
long enough for the nightly job's entries to serve the day.

The table is in the database, not in a process: what the worker's job or one web node computed
serves every node. Writing an entry commits the reader's session (a view reads only, so there is
nothing else to commit); a failed write (two processes storing the same key at once, a locked
SQLite file) is dropped: the figures were computed and are shown anyway.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError

from .analysis.models import StoredResult

#: age at which an entry is no longer used, even when its tables did not change
TTL = dt.timedelta(hours=25)
EXTENSION = "crm_insights.result_cache"


@dataclass
class Counts:
    """How many aggregates this process computed and stored (tests, benchmarks)."""

    computed: int = 0


def counts_of(crm: Any) -> Counts:
    """The counts of ``crm``'s app (made on first use)."""
    counts: Counts = crm.app.extensions.setdefault(EXTENSION, Counts())
    return counts


def statement_key(stmt: Any, session: Any) -> str:
    """The SQL of ``stmt`` for the session's database with its bound parameters: the same
    text only for the same query over the same rows."""
    compiled = stmt.compile(dialect=session.get_bind().dialect)
    params = sorted((k, repr(v)) for k, v in compiled.params.items())
    return f"{compiled}\n{params!r}"


def team_key(records: Any, entities: Iterable[Any]) -> str:
    """The reader's teammates when they read one of ``entities`` by team (else nothing)."""
    access = records.access
    if access.user_id is None:
        return ""
    if not any(access.scope(entity, "read") == "team" for entity in entities):
        return ""
    ids = sorted(int(i) for i in records.session.scalars(access.teammate_ids()))
    return f"\nteam {ids}"


def digest(kind: str, text: str) -> str:
    """The key of an entry: SHA-256 of ``kind`` and the statement ``text``."""
    return hashlib.sha256(f"{kind}\n{text}".encode()).hexdigest()


def fingerprint(session: Any, models: Iterable[Any]) -> str:
    """Row count, highest id and latest ``updated_at`` of each whole table of ``models``."""
    parts = []
    for model in models:
        latest = getattr(model, "updated_at", None)
        columns = [func.count(), func.max(model.id)]
        if latest is not None:
            columns.append(func.max(latest))
        row = session.execute(select(*columns).select_from(model)).one()
        parts.append(f"{model.__tablename__}:" + ",".join(str(v) for v in row))
    return ";".join(parts)


def fetch(session: Any, key: str, stamp: str) -> list[Any] | None:
    """The rows stored under ``key`` for the fingerprint ``stamp``, unless older than
    :data:`TTL`."""
    row = session.execute(
        select(StoredResult.fingerprint, StoredResult.computed_at, StoredResult.rows).where(
            StoredResult.key == key
        )
    ).first()
    if row is None or row.fingerprint != stamp or _now() - row.computed_at > TTL:
        return None
    rows: list[Any] = row.rows
    return rows


def store(crm: Any, session: Any, key: str, kind: str, stamp: str, rows: list[Any]) -> None:
    """Store (or replace) the entry ``key`` and commit; dropped when the write fails."""
    counts_of(crm).computed += 1
    values = {"key": key, "kind": kind, "fingerprint": stamp, "rows": rows, "computed_at": _now()}
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(StoredResult).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=[StoredResult.key],
        set_={name: stmt.excluded[name] for name in ("kind", "fingerprint", "rows", "computed_at")},
    )
    try:
        with session.begin_nested():
            session.execute(stmt)
        session.commit()
    except SQLAlchemyError:
        session.rollback()


def prune(session: Any) -> int:
    """Delete the entries older than :data:`TTL`; how many were deleted (not committed)."""
    result = session.execute(delete(StoredResult).where(StoredResult.computed_at < _now() - TTL))
    return int(result.rowcount or 0)


def clear(crm: Any, session: Any) -> None:
    """Forget every entry and this process's counts (tests, benchmarks); not committed."""
    session.execute(delete(StoredResult))
    counts_of(crm).computed = 0


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
