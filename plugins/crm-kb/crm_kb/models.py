"""Tables of the knowledge base: articles, categories, revisions and the help-centre statistics.

Articles and categories are entities (written through the record service). Revisions are
written inside the same transaction as the article change that makes them; views, votes,
searches and deflections are statistics rows, appended by the help centre and the API.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    Boolean,
    Date,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crmcore.db import (
    AwareDateTime,
    Base,
    CustomFieldsMixin,
    OwnedMixin,
    RecordMixin,
    TagsMixin,
    utcnow,
)

STATUSES = ("draft", "in_review", "published", "archived")
VISIBILITIES = ("internal", "public")
LANGUAGES = ("en", "es")


class KbCategory(RecordMixin, Base):
    """A node of the category tree (``parent_id`` is ``None`` at the top)."""

    __tablename__ = "kb_category"

    name: Mapped[str] = mapped_column(String(150))
    slug: Mapped[str] = mapped_column(String(150), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("kb_category.id", ondelete="SET NULL"), index=True
    )
    position: Mapped[int] = mapped_column(Integer, default=0)


class KbArticle(RecordMixin, OwnedMixin, CustomFieldsMixin, TagsMixin, Base):
    """An article: Markdown ``body``, its sanitised HTML in ``body_html``."""

    __tablename__ = "kb_article"
    # no index on status/visibility: they have few values and would win over the selective ones
    __table_args__ = (UniqueConstraint("language", "slug"),)

    title: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str] = mapped_column(Text, default="")
    summary: Mapped[str] = mapped_column(String(300), default="")
    status: Mapped[str] = mapped_column(String(20), default="draft")
    visibility: Mapped[str] = mapped_column(String(20), default="internal")
    language: Mapped[str] = mapped_column(String(5), default="en")
    category_id: Mapped[int | None] = mapped_column(
        ForeignKey("kb_category.id", ondelete="SET NULL"), index=True
    )
    translation_of_id: Mapped[int | None] = mapped_column(
        ForeignKey("kb_article.id", ondelete="SET NULL"), index=True
    )
    author_id: Mapped[int | None] = mapped_column(ForeignKey("core_user.id", ondelete="SET NULL"))
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("core_user.id", ondelete="SET NULL"))
    published_at: Mapped[dt.datetime | None] = mapped_column(AwareDateTime, index=True)


class KbRevision(Base):
    """The title and body of an article as they were after one change."""

    __tablename__ = "kb_revision"
    __table_args__ = (UniqueConstraint("article_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("kb_article.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    user_id: Mapped[int | None] = mapped_column(ForeignKey("core_user.id", ondelete="SET NULL"))
    note: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(AwareDateTime, default=utcnow)

    article: Mapped[KbArticle] = relationship()


class KbViewDay(Base):
    """Views of one article on one day (one row per article and day, counted up)."""

    __tablename__ = "kb_view_day"
    __table_args__ = (UniqueConstraint("article_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("kb_article.id", ondelete="CASCADE"))
    day: Mapped[dt.date] = mapped_column(Date, index=True)
    views: Mapped[int] = mapped_column(Integer, default=0)


class KbFeedback(Base):
    """One "was this helpful?" vote."""

    __tablename__ = "kb_feedback"

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(
        ForeignKey("kb_article.id", ondelete="CASCADE"), index=True
    )
    helpful: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[dt.datetime] = mapped_column(AwareDateTime, default=utcnow, index=True)


class KbSearch(Base):
    """One search made in the help centre or through the suggestion API, with its hit count."""

    __tablename__ = "kb_search"

    id: Mapped[int] = mapped_column(primary_key=True)
    query: Mapped[str] = mapped_column(String(200))
    terms: Mapped[str] = mapped_column(String(200), index=True)
    results: Mapped[int] = mapped_column(Integer, default=0)
    source: Mapped[str] = mapped_column(String(20), default="help")
    created_at: Mapped[dt.datetime] = mapped_column(AwareDateTime, default=utcnow, index=True)


class KbDeflection(Base):
    """A suggested article a customer opened instead of (or before) writing a ticket."""

    __tablename__ = "kb_deflection"

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(
        ForeignKey("kb_article.id", ondelete="CASCADE"), index=True
    )
    query: Mapped[str] = mapped_column(String(200), default="")
    source: Mapped[str] = mapped_column(String(20), default="portal")
    created_at: Mapped[dt.datetime] = mapped_column(AwareDateTime, default=utcnow, index=True)
