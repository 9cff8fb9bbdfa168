"""The record actions of the knowledge base: publish and unpublish an article (``POST
/api/v1/articles/<id>/publish`` and ``.../unpublish``). In the browser only *Publish* makes an
article ``published``: the form offers the other statuses (draft, in review, archived) and shows
the status read-only while the article is published."""

from __future__ import annotations

from typing import Any

from crmcore.actions import ActionResult, RecordAction

from .logic import PUBLISH_PERMISSION


def _not_published(article: Any) -> str | None:
    return "The article is published already." if article.status == "published" else None


def _published(article: Any) -> str | None:
    return None if article.status == "published" else "The article is not published."


def _publish(records: Any, article: Any, data: dict[str, Any]) -> ActionResult:
    """Publish: readers of its visibility find it (the help centre, when it is public)."""
    records.update("articles", article, {"status": "published"})
    return ActionResult(message="Article published.")


def _unpublish(records: Any, article: Any, data: dict[str, Any]) -> ActionResult:
    """Back to draft: the help centre and suggestions stop showing it."""
    records.update("articles", article, {"status": "draft"})
    return ActionResult(message="Article unpublished; it is a draft again.")


def article_actions() -> tuple[RecordAction, ...]:
    """Publish and unpublish, for holders of ``kb.publish``."""
    return (
        RecordAction(
            name="publish",
            label="Publish",
            handler=_publish,
            permission=PUBLISH_PERMISSION,
            applies=_not_published,
            field="status",
            value="published",
            description="Publish the article (public ones appear in the help centre).",
        ),
        RecordAction(
            name="unpublish",
            label="Unpublish",
            handler=_unpublish,
            permission=PUBLISH_PERMISSION,
            applies=_published,
            description="Take the article back to draft.",
        ),
    )
