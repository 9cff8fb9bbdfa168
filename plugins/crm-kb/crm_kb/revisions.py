"""Revisions of articles: one per change of title or body, a diff between two, restore."""

from __future__ import annotations

import difflib
from typing import Any

from sqlalchemy import func, select

from crmcore import NotFound

from .models import KbArticle, KbRevision

TRACKED = ("title", "body")


def record_revision(event: Any) -> None:
    """Add a revision to the write's transaction when an article's title or body changes."""
    if event.entity.name != "article" or event.action not in ("create", "update"):
        return
    if not any(name in event.changes for name in TRACKED):
        return
    record: KbArticle = event.record
    number = 1
    if record.id is not None:
        last = event.session.scalar(
            select(func.max(KbRevision.number)).where(KbRevision.article_id == record.id)
        )
        number = int(last or 0) + 1
    user = event.user
    event.session.add(
        KbRevision(
            article=record,
            number=number,
            title=record.title,
            body=record.body or "",
            user_id=getattr(user, "id", None),
        )
    )


def revisions(session: Any, article_id: int) -> list[KbRevision]:
    """Revisions of an article, newest first."""
    return list(
        session.scalars(
            select(KbRevision)
            .where(KbRevision.article_id == article_id)
            .order_by(KbRevision.number.desc())
        )
    )


def revision(session: Any, article_id: int, number: int) -> KbRevision:
    found = session.scalar(
        select(KbRevision).where(KbRevision.article_id == article_id, KbRevision.number == number)
    )
    if found is None:
        raise NotFound(f"No revision {number} of article {article_id}.")
    return found


def diff(old: KbRevision | None, new: KbRevision) -> str:
    """A unified diff of title and body from ``old`` (nothing, for the first) to ``new``."""

    def lines(rev: KbRevision | None) -> list[str]:
        if rev is None:
            return []
        return [f"# {rev.title}\n", "\n", *(rev.body or "").splitlines(keepends=True)]

    before = f"revision {old.number}" if old else "empty"
    return "".join(
        difflib.unified_diff(
            lines(old), lines(new), before, f"revision {new.number}", lineterm="\n"
        )
    )


def previous(session: Any, rev: KbRevision) -> KbRevision | None:
    return session.scalar(
        select(KbRevision)
        .where(KbRevision.article_id == rev.article_id, KbRevision.number < rev.number)
        .order_by(KbRevision.number.desc())
        .limit(1)
    )


def restore(records: Any, article_id: int, number: int) -> KbArticle:
    """Bring back the title and body of revision ``number`` (itself recorded as a new revision)."""
    article = records.get("articles", article_id, "update")
    old = revision(records.session, article.id, number)
    last = records.session.scalar(
        select(func.max(KbRevision.number)).where(KbRevision.article_id == article.id)
    )
    article = records.update(
        "articles", article, {"title": old.title, "body": old.body}, commit=False
    )
    newest = records.session.scalar(
        select(KbRevision)
        .where(KbRevision.article_id == article.id)
        .order_by(KbRevision.number.desc())
        .limit(1)
    )
    if newest is not None and newest.number > (last or 0):
        newest.note = f"Restored from revision {number}"
    records.commit()
    return article


def as_dict(rev: KbRevision, with_body: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "number": rev.number,
        "title": rev.title,
        "user_id": rev.user_id,
        "note": rev.note,
        "created_at": rev.created_at.isoformat() if rev.created_at else None,
    }
    if with_body:
        out["body"] = rev.body
    return out
