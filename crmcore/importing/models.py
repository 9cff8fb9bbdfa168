"""Bookkeeping tables of imports: one row per import run and one per imported file row."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..db import AwareDateTime, Base, JSONType, utcnow

STATUSES = ("queued", "running", "done", "failed")


class ImportJob(Base):
    """One import: what was uploaded, by whom, how far it got and what it did."""

    __tablename__ = "core_import"

    id: Mapped[int] = mapped_column(primary_key=True)
    entity: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    filename: Mapped[str] = mapped_column(String(255), default="")
    #: the stored upload (API) or the file given on the command line
    path: Mapped[str] = mapped_column(Text, default="")
    #: ``{"mapping": {...}, "on_duplicate": "skip", "dry_run": false, "batch_size": 5000}``
    options: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("core_user.id", ondelete="SET NULL"), index=True
    )
    total_rows: Mapped[int] = mapped_column(Integer, default=0)
    processed_rows: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    report_path: Mapped[str | None] = mapped_column(Text)
    #: rows created that may duplicate a record (``crmcore.duplicates``), and the first of them:
    #: ``[{"line": 7, "record_id": 31, "duplicates": [{"id", "title", "score", "reasons"}]}]``
    possible_duplicates: Mapped[int] = mapped_column(Integer, default=0)
    duplicates: Mapped[list[Any] | None] = mapped_column(JSONType)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(AwareDateTime, default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(AwareDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(AwareDateTime)


def fingerprint_of(text: str) -> int:
    """The first 64 bits of the SHA-256 of ``text``, as a signed integer (a ``BIGINT``)."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big", signed=True)


class ImportedRow(Base):
    """The fingerprint of a file row that was imported, written in the same transaction as
    the record, so a re-run (or a run after a crash) skips exactly the rows already done.

    The fingerprint is :func:`fingerprint_of` the row's digest and occurrence number. 64 bits,
    not the whole digest: the entries of its unique index land at random places, and at a
    million rows an index of 64-character strings made the import write three times as much
    for it (docs/performance.md, "Session 24"). The odds that two different rows share one
    are about 1 in 370,000 among 10 million imported rows (the later would be skipped).
    """

    __tablename__ = "core_import_row"

    id: Mapped[int] = mapped_column(primary_key=True)
    fingerprint: Mapped[int] = mapped_column(BigInteger, unique=True)
    entity: Mapped[str] = mapped_column(String(64))
    record_id: Mapped[int] = mapped_column(Integer)
    import_id: Mapped[int | None] = mapped_column(
        ForeignKey("core_import.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(AwareDateTime, default=utcnow)
