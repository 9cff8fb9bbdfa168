"""Reading the stored pairs in the reader's scope: what the API and the Duplicates page list."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select

from ..errors import BadRequest, NotFound
from .matching import RULES
from .models import DuplicatePair

if TYPE_CHECKING:
    from ..records import RecordService
    from ..registry import Entity

DEFAULT_LIMIT = 25
MAX_LIMIT = 200


@dataclass
class PairView:
    """One pair as shown: both records' ids and titles, the score and the reasons."""

    id: int
    score: int
    reasons: list[str]
    found_at: dt.datetime
    records: list[dict[str, Any]]


def entity_with_rules(service: RecordService, plural: str) -> Entity:
    """The entity of ``plural`` when duplicates are looked for in it; 404 otherwise."""
    entity = service.entity(plural)
    if entity.name not in RULES:
        raise NotFound("Duplicates are not looked for in %(name)s.", params={"name": plural})
    return entity


def parse_limit(raw: str | None) -> int:
    """``limit``: 1 to 200, default 25; a clear 400 otherwise."""
    if raw in (None, ""):
        return DEFAULT_LIMIT
    try:
        limit = int(raw)
    except ValueError:
        raise BadRequest("limit must be a whole number from 1 to 200.") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest("limit must be a whole number from 1 to 200.")
    return limit


def parse_cursor(raw: str | None) -> tuple[int, int] | None:
    """``cursor``: the ``next_cursor`` of the previous page (``<score>.<id>``)."""
    if raw in (None, ""):
        return None
    score, dot, pair_id = str(raw).partition(".")
    if not dot or not score.isdigit() or not pair_id.isdigit() or len(raw or "") > 40:
        raise BadRequest("Not a cursor of this list; use the next_cursor of the previous page.")
    return int(score), int(pair_id)


def page(
    service: RecordService,
    entity: Entity,
    limit: int = DEFAULT_LIMIT,
    cursor: tuple[int, int] | None = None,
    record_id: int | None = None,
) -> tuple[list[PairView], str | None]:
    """A page of pairs, best first, whose two records the user may read (and are not in the
    trash); the cursor of the next page or ``None``."""
    model = entity.model
    # raises PermissionDenied (403) for a user who may not read the entity
    readable = service.query(entity, "read").with_only_columns(model.id)
    stmt = select(DuplicatePair).where(
        DuplicatePair.entity == entity.name,
        DuplicatePair.record_a.in_(readable),
        DuplicatePair.record_b.in_(readable),
    )
    if record_id is not None:
        stmt = stmt.where(
            or_(DuplicatePair.record_a == record_id, DuplicatePair.record_b == record_id)
        )
    if cursor is not None:
        score, after = cursor
        stmt = stmt.where(
            or_(
                DuplicatePair.score < score,
                (DuplicatePair.score == score) & (DuplicatePair.id > after),
            )
        )
    stmt = stmt.order_by(DuplicatePair.score.desc(), DuplicatePair.id).limit(limit + 1)
    found = list(service.session.scalars(stmt))
    more = len(found) > limit
    found = found[:limit]
    ids = {i for pair in found for i in (pair.record_a, pair.record_b)}
    titles: dict[int, str] = {}
    if ids:
        columns = [model.id, *(getattr(model, f) for f in entity.title_fields)]
        for row in service.session.execute(select(*columns).where(model.id.in_(ids))):
            titles[row.id] = entity.display(row)
    views = [
        PairView(
            pair.id,
            pair.score,
            list(pair.reasons or []),
            pair.found_at,
            [{"id": i, "title": titles.get(i, "")} for i in (pair.record_a, pair.record_b)],
        )
        for pair in found
    ]
    next_cursor = f"{found[-1].score}.{found[-1].id}" if more and found else None
    return views, next_cursor
