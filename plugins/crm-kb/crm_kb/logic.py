"""What the record service runs for kb entities: derived fields and the checks of each write."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from crmcore import ValidationError
from crmcore.db import utcnow

from .models import KbArticle, KbCategory
from .render import render, slug_problem, slugify, summary

MAX_DEPTH = 50
PUBLISH_PERMISSION = "kb.publish"


def _unique_slug(session: Any, model: type[Any], base: str, **scope: Any) -> str:
    """``base``, or ``base-2``, ``base-3``... whichever no row of ``model`` uses yet."""
    taken = set(
        session.scalars(
            select(model.slug).where(
                model.slug.like(f"{base}%"), *(getattr(model, k) == v for k, v in scope.items())
            )
        )
    )
    slug, n = base, 1
    while slug in taken:
        n += 1
        slug = f"{base}-{n}"
    return slug


def _check_slug(session: Any, model: type[Any], slug: str, record: Any, **scope: Any) -> None:
    problem = slug_problem(slug)
    if problem:
        raise ValidationError({"slug": [problem]})
    stmt = select(model.id).where(
        model.slug == slug, *(getattr(model, k) == v for k, v in scope.items())
    )
    if record is not None:
        stmt = stmt.where(model.id != record.id)
    if session.scalar(stmt.limit(1)) is not None:
        raise ValidationError({"slug": ["Another record already uses this slug."]})


# categories -----------------------------------------------------------------------------------


def prepare_category(values: dict[str, Any], record: Any, service: Any) -> None:
    """Derive the slug and refuse a parent that is missing or would make a cycle."""
    session = service.session
    if "slug" in values:
        _check_slug(session, KbCategory, values["slug"], record)
    elif record is None:
        values["slug"] = _unique_slug(session, KbCategory, slugify(values["name"]))
    parent_id = values.get("parent_id")
    if parent_id is None:
        return
    seen: set[int] = set()
    current: int | None = parent_id
    for _ in range(MAX_DEPTH):
        if current is None:
            return
        if record is not None and current == record.id:
            raise ValidationError({"parent_id": ["A category cannot be inside itself."]})
        if current in seen:
            break
        seen.add(current)
        parent = session.get(KbCategory, current)
        if parent is None or parent.deleted_at is not None:
            raise ValidationError({"parent_id": ["No such category."]})
        current = parent.parent_id
    raise ValidationError({"parent_id": ["The category tree is too deep."]})


# articles -------------------------------------------------------------------------------------


def _check_category(session: Any, category_id: int | None) -> None:
    if category_id is None:
        return
    category = session.get(KbCategory, category_id)
    if category is None or category.deleted_at is not None:
        raise ValidationError({"category_id": ["No such category."]})


def _check_translation(session: Any, values: dict[str, Any], record: Any) -> None:
    """A translation points at the original (never a translation) in another language."""
    original_id = values.get("translation_of_id", getattr(record, "translation_of_id", None))
    if original_id is None:
        return
    original = session.get(KbArticle, original_id)
    if original is None or original.deleted_at is not None:
        raise ValidationError({"translation_of_id": ["No such article."]})
    if original.translation_of_id is not None:
        original = session.get(KbArticle, original.translation_of_id) or original
        values["translation_of_id"] = original.id
    language = values.get("language") or getattr(record, "language", None) or "en"
    if record is not None and original.id == record.id:
        raise ValidationError({"translation_of_id": ["An article cannot translate itself."]})
    if original.language == language:
        raise ValidationError({"language": ["A translation needs another language."]})
    stmt = select(KbArticle.id).where(
        KbArticle.translation_of_id == original.id,
        KbArticle.language == language,
        KbArticle.deleted_at.is_(None),
    )
    if record is not None:
        stmt = stmt.where(KbArticle.id != record.id)
    if session.scalar(stmt.limit(1)) is not None:
        raise ValidationError(
            {"language": ["This article already has a version in this language."]}
        )


def _check_status(values: dict[str, Any], record: Any, service: Any) -> None:
    """Publishing and archiving need ``kb.publish``; publishing stamps the date and reviewer."""
    status = values.get("status")
    before = getattr(record, "status", "draft")
    if status is None or status == before:
        return
    if status in ("published", "archived") and not service.access.has(PUBLISH_PERMISSION):
        raise ValidationError({"status": ["You may not publish or archive articles."]})
    if status == "published":
        if getattr(record, "published_at", None) is None:
            values["published_at"] = utcnow()
        reviewer = values.get("reviewer_id", getattr(record, "reviewer_id", None))
        if reviewer is None and service.user is not None:
            values["reviewer_id"] = service.user.id


def prepare_article(values: dict[str, Any], record: Any, service: Any) -> None:
    """Slug, rendered body, summary, author, publishing and translation checks."""
    session = service.session
    if "title" in values:
        values["title"] = values["title"].strip()
        if not values["title"]:
            raise ValidationError({"title": ["Give the article a title."]})
    language = values.get("language") or getattr(record, "language", None) or "en"
    if "slug" in values:
        _check_slug(session, KbArticle, values["slug"], record, language=language)
    elif record is None:
        values["slug"] = _unique_slug(
            session, KbArticle, slugify(values["title"]), language=language
        )
    elif "language" in values and values["language"] != record.language:
        _check_slug(session, KbArticle, record.slug, record, language=language)
    if record is None:
        values.setdefault("body", "")
        values.setdefault("language", language)
        if values.get("author_id") is None and service.user is not None:
            values["author_id"] = service.user.id
    if "body" in values:
        values["body_html"] = render(values["body"])
        was_derived = record is None or record.summary == summary(record.body or "")
        if "summary" not in values and was_derived:
            values["summary"] = summary(values["body"])
    if "category_id" in values:
        _check_category(session, values["category_id"])
    if "translation_of_id" in values or "language" in values:
        _check_translation(session, values, record)
    _check_status(values, record, service)
