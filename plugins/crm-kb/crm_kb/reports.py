"""Reports: most viewed, least helpful, searches without results (content gaps), deflections.

Each takes the reader's record service, so articles outside their scope never show.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Integer, case, cast, func, select

from crmcore.db import utcnow

from .models import KbArticle, KbDeflection, KbFeedback, KbSearch, KbViewDay

MIN_VOTES = 3


def _since(days: int) -> dt.datetime:
    return utcnow() - dt.timedelta(days=days)


def _readable_ids(records: Any) -> Any:
    return records.query("articles").with_only_columns(KbArticle.id).scalar_subquery()


def most_viewed(records: Any, days: int = 30, limit: int = 10) -> list[dict[str, Any]]:
    """Articles by views over the last ``days`` days."""
    views = func.sum(KbViewDay.views).label("views")
    stmt = (
        select(KbArticle.id, KbArticle.title, views)
        .join(KbViewDay, KbViewDay.article_id == KbArticle.id)
        .where(KbArticle.id.in_(_readable_ids(records)), KbViewDay.day >= _since(days).date())
        .group_by(KbArticle.id, KbArticle.title)
        .order_by(views.desc(), KbArticle.id)
        .limit(limit)
    )
    return [
        {"id": i, "title": t, "views": int(v or 0)} for i, t, v in records.session.execute(stmt)
    ]


def least_helpful(records: Any, days: int = 90, limit: int = 10) -> list[dict[str, Any]]:
    """Articles with the lowest share of "helpful" votes (at least ``MIN_VOTES`` votes)."""
    yes = func.sum(cast(case((KbFeedback.helpful.is_(True), 1), else_=0), Integer)).label("yes")
    total = func.count(KbFeedback.id).label("total")
    stmt = (
        select(KbArticle.id, KbArticle.title, yes, total)
        .join(KbFeedback, KbFeedback.article_id == KbArticle.id)
        .where(KbArticle.id.in_(_readable_ids(records)), KbFeedback.created_at >= _since(days))
        .group_by(KbArticle.id, KbArticle.title)
        .having(total >= MIN_VOTES)
    )
    rows = [
        {
            "id": i,
            "title": t,
            "helpful": int(y or 0),
            "not_helpful": int(n) - int(y or 0),
            "helpful_share": round(int(y or 0) / int(n), 3),
        }
        for i, t, y, n in records.session.execute(stmt)
    ]
    rows.sort(key=lambda r: (r["helpful_share"], -r["not_helpful"], r["id"]))
    return rows[:limit]


def content_gaps(records: Any, days: int = 30, limit: int = 10) -> list[dict[str, Any]]:
    """Searches that found nothing, most frequent first (the articles nobody wrote yet)."""
    searches = func.count(KbSearch.id).label("searches")
    stmt = (
        select(KbSearch.terms, searches, func.max(KbSearch.query))
        .where(KbSearch.results == 0, KbSearch.created_at >= _since(days))
        .group_by(KbSearch.terms)
        .order_by(searches.desc(), KbSearch.terms)
        .limit(limit)
    )
    return [
        {"terms": terms, "searches": int(n), "example": example}
        for terms, n, example in records.session.execute(stmt)
    ]


def deflections(records: Any, days: int = 30, limit: int = 10) -> dict[str, Any]:
    """How often suggested articles were opened instead of writing a ticket, and which."""
    count = func.count(KbDeflection.id).label("n")
    since = _since(days)
    stmt = (
        select(KbArticle.id, KbArticle.title, count)
        .join(KbDeflection, KbDeflection.article_id == KbArticle.id)
        .where(KbArticle.id.in_(_readable_ids(records)), KbDeflection.created_at >= since)
        .group_by(KbArticle.id, KbArticle.title)
        .order_by(count.desc(), KbArticle.id)
        .limit(limit)
    )
    top = [
        {"id": i, "title": t, "deflections": int(n)} for i, t, n in records.session.execute(stmt)
    ]
    total = records.session.scalar(
        select(func.count(KbDeflection.id)).where(KbDeflection.created_at >= since)
    )
    return {"total": int(total or 0), "articles": top}
