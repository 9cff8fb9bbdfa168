"""The audit viewer's query: the audit trail across every entity, filtered, in the reader's
scope, newest first, with keyset paging.

Holders of ``audit.read`` (administrators) read every row: sign-ins, failed sign-ins, settings,
exports, erasures and purges included. Anyone else reads the rows about records they may read
now (a record gone for good takes its rows out of their view) and their own sign-ins.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, false, or_, select, true

from ..audit import AuditEntry
from ..errors import ValidationError
from ..users.models import User

if TYPE_CHECKING:
    from ..records import RecordService

#: the named permission to read the whole trail
READ_ALL = "audit.read"
#: the audit trail's entity of sign-ins (actions ``signin`` and ``signin_failed``)
SESSION_ENTITY = "session"
DEFAULT_LIMIT = 50
MAX_LIMIT = 200
#: rows one CSV export holds at most (filters narrow it)
CSV_LIMIT = 10_000


@dataclass(frozen=True)
class AuditFilters:
    """What the reader asked for; every field optional."""

    user_id: int | None = None
    entity: str | None = None
    action: str | None = None
    record_id: int | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    before_id: int | None = None
    limit: int = DEFAULT_LIMIT


def parse_filters(args: Mapping[str, Any], *, max_limit: int = MAX_LIMIT) -> AuditFilters:
    """The query string (``user``, ``entity``, ``action``, ``record``, ``since``, ``until``,
    ``cursor``, ``limit``) as filters; ``ValidationError`` naming each bad parameter."""
    errors: dict[str, list[str]] = {}

    def whole(name: str) -> int | None:
        raw = str(args.get(name) or "").strip()
        if not raw:
            return None
        if not raw.isdigit() or len(raw) > 18:
            errors[name] = ["Must be a whole number."]
            return None
        return int(raw)

    def moment(name: str, end: bool) -> dt.datetime | None:
        raw = str(args.get(name) or "").strip()
        if not raw:
            return None
        try:
            if len(raw) == 10:
                day = dt.date.fromisoformat(raw)
                value = dt.datetime.combine(day, dt.time.min, dt.UTC)
                return value + dt.timedelta(days=1) if end else value
            value = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            errors[name] = ["Not a date (YYYY-MM-DD) or date and time (ISO 8601)."]
            return None
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)

    def word(name: str) -> str | None:
        raw = str(args.get(name) or "").strip()
        if len(raw) > 64:
            errors[name] = ["Longer than maximum length 64."]
            return None
        return raw or None

    limit = whole("limit")
    filters = AuditFilters(
        user_id=whole("user"),
        entity=word("entity"),
        action=word("action"),
        record_id=whole("record"),
        since=moment("since", end=False),
        until=moment("until", end=True),
        before_id=whole("cursor"),
        limit=min(max(limit or DEFAULT_LIMIT, 1), max_limit),
    )
    if errors:
        raise ValidationError(errors)
    return filters


def entity_name(records: RecordService, name: str | None) -> str | None:
    """A plural or singular entity name as the trail stores it (singular); other names
    (``session``, ``person``, ``trash``, ``setting``) as given."""
    if name is None:
        return None
    try:
        return records.crm.registry.get(name).name
    except KeyError:
        return name


def scope_condition(records: RecordService) -> Any:
    """The rows the reader may see (``None``: all of them)."""
    access = records.access
    if access.is_system or access.has(READ_ALL):
        return None
    parts = []
    for entity in records.crm.entities():
        if not access.can(entity, "read"):
            continue
        scoped = records.query(entity).whereclause
        readable = select(entity.model.id).where(scoped if scoped is not None else true())
        parts.append(and_(AuditEntry.entity == entity.name, AuditEntry.record_id.in_(readable)))
    if access.user_id is not None:
        parts.append(
            and_(AuditEntry.entity == SESSION_ENTITY, AuditEntry.user_id == access.user_id)
        )
    return or_(*parts) if parts else false()


def audit_query(records: RecordService, filters: AuditFilters) -> Any:
    """Rows and the acting user's name, newest first (one page: ``limit + 1`` rows)."""
    stmt: Any = select(AuditEntry, User.name, User.email).outerjoin(
        User, User.id == AuditEntry.user_id
    )
    scope = scope_condition(records)
    if scope is not None:
        stmt = stmt.where(scope)
    if filters.user_id is not None:
        stmt = stmt.where(AuditEntry.user_id == filters.user_id)
    if filters.entity is not None:
        stmt = stmt.where(AuditEntry.entity == entity_name(records, filters.entity))
    if filters.action is not None:
        stmt = stmt.where(AuditEntry.action == filters.action)
    if filters.record_id is not None:
        stmt = stmt.where(AuditEntry.record_id == filters.record_id)
    if filters.since is not None:
        stmt = stmt.where(AuditEntry.at >= filters.since)
    if filters.until is not None:
        stmt = stmt.where(AuditEntry.at < filters.until)
    if filters.before_id is not None:
        stmt = stmt.where(AuditEntry.id < filters.before_id)
    return stmt.order_by(AuditEntry.id.desc()).limit(filters.limit + 1)


def audit_page(
    records: RecordService, filters: AuditFilters
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of rows as dictionaries, and the cursor of the next page (``None`` at the end)."""
    rows = list(records.session.execute(audit_query(records, filters)))
    more = len(rows) > filters.limit
    rows = rows[: filters.limit]
    data = [
        {
            "id": entry.id,
            "at": entry.at,
            "user_id": entry.user_id,
            "user_name": name or email,
            "entity": entry.entity,
            "record_id": entry.record_id,
            "action": entry.action,
            "changes": entry.changes,
        }
        for entry, name, email in rows
    ]
    return data, (str(data[-1]["id"]) if more and data else None)
