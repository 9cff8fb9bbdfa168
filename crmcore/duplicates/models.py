"""Stored candidate pairs: what the last duplicate scan of an entity found."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Index, Integer, SmallInteger, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..db import AwareDateTime, Base, JSONType, utcnow


class DuplicatePair(Base):
    """Two records of one entity that may be the same (``record_a`` < ``record_b``).

    Rewritten by each scan of the entity (``crmcore.duplicates.scan``); readers see a pair only
    when they may read both records, and pairs whose records went to the trash are not shown.
    """

    __tablename__ = "core_duplicate_pair"
    __table_args__ = (
        UniqueConstraint("entity", "record_a", "record_b"),
        Index("ix_core_duplicate_pair_entity_score", "entity", "score", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    entity: Mapped[str] = mapped_column(String(64))
    record_a: Mapped[int] = mapped_column(Integer)
    record_b: Mapped[int] = mapped_column(Integer, index=True)
    score: Mapped[int] = mapped_column(SmallInteger)
    #: why: ``["email", "phone"]`` (the codes of ``crmcore.duplicates.matching``)
    reasons: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    found_at: Mapped[dt.datetime] = mapped_column(AwareDateTime, default=utcnow)
