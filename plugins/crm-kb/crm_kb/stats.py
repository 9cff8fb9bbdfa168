"""Statistics rows of the help centre: views per day, votes, searches and deflections.

These are not records (no audit, no version): they are appended or counted up directly, in
their own short transaction, by public pages and the suggestion API.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError

from crmcore.db import utcnow

from .models import KbDeflection, KbFeedback, KbSearch, KbViewDay
from .search import query_terms

log = logging.getLogger(__name__)


def _clean(value: str, length: int) -> str:
    """Text as a column can hold it: no NUL characters, at most ``length`` characters."""
    return value.replace("\x00", "")[:length]


def _commit(session: Any) -> None:
    try:
        session.commit()
    except SQLAlchemyError:  # a statistic must never break the page that counts it
        log.exception("kb statistics not saved")
        session.rollback()


def count_view(session: Any, article_id: int, day: dt.date | None = None) -> None:
    """Count one view of an article today (an upsert on ``kb_view_day``)."""
    day = day or utcnow().date()
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(KbViewDay).values(article_id=article_id, day=day, views=1)
    stmt = stmt.on_conflict_do_update(
        index_elements=["article_id", "day"], set_={"views": KbViewDay.views + 1}
    )
    session.execute(stmt)
    _commit(session)


def add_vote(session: Any, article_id: int, helpful: bool) -> None:
    session.add(KbFeedback(article_id=article_id, helpful=helpful))
    _commit(session)


def log_search(session: Any, query: str, results: int, source: str) -> None:
    """Remember a search (its normalised words too, so content gaps group alike queries)."""
    words = " ".join(query_terms(query))
    if not words:
        return
    session.add(
        KbSearch(query=_clean(query, 200), terms=words[:200], results=results, source=source)
    )
    _commit(session)


def add_deflection(session: Any, article_id: int, query: str, source: str) -> None:
    session.add(
        KbDeflection(article_id=article_id, query=_clean(query, 200), source=_clean(source, 20))
    )
    _commit(session)
