"""A record's timeline: what every enabled plugin says happened to it, merged newest first.

Plugins contribute through the ``crm_timeline_items(ctx)`` hook. Each source runs one bounded
query per kind through the reader's record service, so scopes hold and the number of queries
does not grow with the rows; :func:`build` merges, pages and names the actors.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, false, or_, select

from .records import RecordService
from .registry import Entity
from .users.models import User

log = logging.getLogger(__name__)

#: Items per page and the furthest a reader can page back (each source fetches offset + limit).
PAGE_SIZE = 25
MAX_LIMIT = 100
MAX_OFFSET = 1000


@dataclass(frozen=True)
class TimelineItem:
    """One line of a timeline.

    :param kind: what it is (``note``, ``call``, ``quote``, ``ticket_message``...), one of the
        kinds its source offered with :meth:`TimelineContext.wants`.
    :param at: when it happened (timezone-aware).
    :param title: one line in the reader's language ("Quote Q-0012 sent").
    :param summary: optional detail (a note's text, a status), plain text; pages escape it.
    :param link: the path of the page showing it, or ``None``.
    :param actor_id: the user who did it, or ``None`` (the customer, the system).
    :param id: the id of the record behind it, for API clients.
    :param data: extra machine-readable fields for API clients.
    """

    kind: str
    at: dt.datetime
    title: str
    summary: str = ""
    link: str | None = None
    actor_id: int | None = None
    id: int | None = None
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class TimelineContext:
    """What a timeline source needs: the reader's record service, the record, the page asked for.

    :param records: the reader's :class:`crmcore.records.RecordService`; query through
        ``records.query(entity)`` so the reader's scope applies.
    :param entity: the entity of the record whose timeline is shown.
    :param record: the record itself (already checked readable).
    :param kinds: the kinds asked for, or ``None`` for all.
    :param fetch: how many items each source returns at most (newest first): enough for the
        page asked for, so merging the sources gives an exact page.
    """

    records: RecordService
    entity: Entity
    record: Any
    kinds: frozenset[str] | None
    fetch: int
    offered: dict[str, str] = field(default_factory=dict)

    def wants(self, kind: str, label: Any) -> bool:
        """Offer ``kind`` (with its translated ``label``) in the filter; whether to fetch it."""
        self.offered.setdefault(kind, str(label))
        return self.kinds is None or kind in self.kinds

    @property
    def is_contact(self) -> bool:
        """Is the timeline a contact's?"""
        return self.entity.name == "contact"

    @property
    def is_company(self) -> bool:
        """Is the timeline a company's (rolling up its contacts')?"""
        return self.entity.name == "company"

    def contact_ids(self) -> Select[Any]:
        """The readable contacts whose items roll up into this timeline, as a subquery: the
        contact itself, or a company's contacts (in the reader's scope)."""
        contact = self.records.entity("contacts")
        if self.is_contact:
            return select(contact.model.id).where(contact.model.id == self.record.id)
        if self.is_company and self.records.access.can(contact, "read"):
            stmt = self.records.query(contact).where(contact.model.company_id == self.record.id)
            return stmt.with_only_columns(contact.model.id)
        return select(contact.model.id).where(false())

    def about(
        self, contact_column: Any, company_column: Any | None = None
    ) -> ColumnElement[bool] | None:
        """The condition "this row concerns the record" for rows pointing to a contact (and to
        a company): on a contact, its own rows; on a company, its own rows and those of its
        contacts. ``None`` for other entities: the source has nothing to add."""
        if self.is_contact:
            return contact_column == self.record.id  # type: ignore[no-any-return]
        if self.is_company:
            rolled = contact_column.in_(self.contact_ids())
            if company_column is None:
                return rolled  # type: ignore[no-any-return]
            return or_(company_column == self.record.id, rolled)
        return None

    def link(self, plural: str, record_id: int) -> str:
        """The path of a record's page."""
        return f"/{plural}/{record_id}"


@dataclass
class TimelinePage:
    """One page of a timeline: its items, the kinds the filter offers, the next offset."""

    items: list[TimelineItem]
    kinds: dict[str, str]
    next_offset: int | None
    actors: dict[int, str] = field(default_factory=dict)


def parse_kinds(values: Iterable[str]) -> frozenset[str] | None:
    """The ``kind`` filter from a query string (``kind=note&kind=call`` or ``kind=note,call``);
    ``None`` (everything) when none is given."""
    kinds = {k.strip() for v in values for k in v.split(",") if k.strip()}
    return frozenset(kinds) or None


def build(
    records: RecordService,
    entity: Entity,
    record_id: int,
    *,
    kinds: frozenset[str] | None = None,
    offset: int = 0,
    limit: int = PAGE_SIZE,
) -> TimelinePage:
    """One page of the timeline of a record, newest first, each item in the reader's scope.

    Raises ``NotFound`` when the reader may not read the record.
    """
    record = records.get(entity, record_id)
    offset = max(0, min(offset, MAX_OFFSET))
    limit = max(1, min(limit, MAX_LIMIT))
    ctx = TimelineContext(records, entity, record, kinds, fetch=offset + limit + 1)
    items: list[TimelineItem] = []
    for contributed in records.crm.hook("crm_timeline_items")(ctx=ctx):
        items.extend(contributed or ())
    if kinds is not None:
        items = [i for i in items if i.kind in kinds]
    items.sort(key=lambda i: (_aware(i.at), i.id or 0), reverse=True)
    page = items[offset : offset + limit]
    more = len(items) > offset + limit and offset + limit <= MAX_OFFSET
    return TimelinePage(
        items=page,
        kinds=dict(sorted(ctx.offered.items(), key=lambda kv: kv[1].casefold())),
        next_offset=offset + limit if more else None,
        actors=_actor_names(records, {i.actor_id for i in page}),
    )


def _aware(at: dt.datetime) -> dt.datetime:
    # SQLite hands back naive datetimes for some columns; they are UTC
    return at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)


def _actor_names(records: RecordService, ids: set[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if isinstance(i, int)}
    if not wanted:
        return {}
    rows = records.session.scalars(select(User).where(User.id.in_(wanted)))
    return {u.id: u.name or u.email for u in rows}
