"""Finding articles: the help centre's search (published public ones only) and suggestions.

Both reuse the core's full-text index through ``crm.search.record_ids``; the kb only narrows
the matching ids to the articles a reader may see.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from sqlalchemy import Select, select

from .models import KbArticle

MAX_WORDS = 6
MIN_WORD = 3
#: Words too common to suggest anything (English and Spanish).
STOP_WORDS = frozenset(
    """the and for are but not you your with this that from have has was were will can cannot
    how what when where why who does did into about after before there their them then than
    our out all any get got its it's i'm hello thanks thank please help need want would could
    should el la los las un una unos unas que por para con sin del al como cuando donde por
    porque pero sus mis tus nos les fue ser esta este esto estos estas hay hola gracias ayuda
    favor tengo quiero puedo necesito""".split()
)


def query_terms(query: str) -> list[str]:
    """The words of a query, lower case without accents; search syntax is never interpreted."""
    decomposed = unicodedata.normalize("NFKD", query or "")
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return re.findall(r"\w+", plain)[:20]


def keywords(text: str, limit: int = MAX_WORDS) -> list[str]:
    """The distinctive words of a text (longest first), for suggestions."""
    words = [w for w in dict.fromkeys(query_terms(text[:5000])) if len(w) >= MIN_WORD]
    words = [w for w in words if w not in STOP_WORDS and not w.isdigit()]
    return sorted(words, key=len, reverse=True)[:limit]


def public_articles() -> Select[Any]:
    """Articles anonymous visitors may read: published, public, not in the trash."""
    return select(KbArticle).where(
        KbArticle.status == "published",
        KbArticle.visibility == "public",
        KbArticle.deleted_at.is_(None),
    )


def public_url(article: KbArticle) -> str:
    """The help-centre address of an article, on the instance's public address."""
    from crmcore.links import absolute_url_for

    return absolute_url_for("kb_help.article", ref=article.slug)


def _entity(crm: Any) -> Any:
    return crm.registry.get("article")


def search(crm: Any, base: Select[Any], query: str, limit: int = 20) -> list[KbArticle]:
    """Articles of ``base`` matching every word of ``query``; titles that match come first."""
    ids = crm.search.record_ids(_entity(crm), query)
    if ids is None:
        return []
    stmt = base.where(KbArticle.id.in_(ids)).order_by(KbArticle.updated_at.desc()).limit(limit)
    found = list(crm.session.scalars(stmt))
    words = query_terms(query)
    return sorted(found, key=lambda a: -sum(w in query_terms(a.title) for w in words))


def suggest(crm: Any, base: Select[Any], text: str, limit: int = 5) -> list[KbArticle]:
    """Articles of ``base`` sharing the most keywords with ``text`` (any word may match)."""
    words = keywords(text)
    if not words:
        return []
    session, entity = crm.session, _entity(crm)
    ids_base = base.with_only_columns(KbArticle.id)
    scores: dict[int, int] = {}
    for word in words:
        matching = crm.search.record_ids(entity, word)
        if matching is None:
            continue
        for article_id in session.scalars(ids_base.where(KbArticle.id.in_(matching)).limit(200)):
            scores[article_id] = scores.get(article_id, 0) + 1
    best = sorted(scores, key=lambda i: (-scores[i], -i))[:limit]
    if not best:
        return []
    by_id = {a.id: a for a in session.scalars(base.where(KbArticle.id.in_(best)))}
    return [by_id[i] for i in best if i in by_id]


def related(session: Any, article: KbArticle, limit: int = 5) -> list[KbArticle]:
    """Other public articles in the same category or sharing a tag, same language first."""
    base = public_articles().where(KbArticle.id != article.id)
    found: dict[int, KbArticle] = {}
    if article.category_id is not None:
        # ids first (sorting whole rows, bodies included, is what made this slow), then rows
        stmt = (
            base.where(KbArticle.category_id == article.category_id)
            .with_only_columns(KbArticle.id)
            .order_by(KbArticle.updated_at.desc())
            .limit(limit)
        )
        ids = list(session.scalars(stmt))
        if ids:
            for other in session.scalars(base.where(KbArticle.id.in_(ids))):
                found[other.id] = other
    tags = set(article.tags or ())
    if tags and len(found) < limit:
        stmt = (
            base.where(KbArticle.language == article.language)
            .with_only_columns(KbArticle.id, KbArticle.tags)
            .order_by(KbArticle.updated_at.desc())
            .limit(100)
        )
        wanted = [i for i, t in session.execute(stmt) if tags & set(t or ()) and i not in found]
        wanted = wanted[: limit - len(found)]
        if wanted:
            for other in session.scalars(base.where(KbArticle.id.in_(wanted))):
                found[other.id] = other
    ordered = sorted(found.values(), key=lambda a: (a.language != article.language, -a.id))
    return ordered[:limit]
