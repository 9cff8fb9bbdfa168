"""Tables of the rollups: which ones exist, and their pre-aggregated rows (derived figures,
not records: no audit, no trash; the record service's writes keep them current)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from crmcore.db import AwareDateTime, Base, JSONType
from sqlalchemy import BigInteger, Date, ForeignKey, Index, Integer, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

#: Group fields (dimensions) and summed fields (measures) one rollup holds at most.
MAX_GROUPS = 2
MAX_MEASURES = 3
#: Scale of the stored sums (a field's own scale is restored when they are read).
SUM_TYPE = Numeric(28, 6)


class Rollup(Base):
    """One rollup: the records of ``entity`` counted and summed per value of its ``groups``
    (dates by day), per currency and per owner."""

    __tablename__ = "insights_rollup"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entity: Mapped[str] = mapped_column(String(100), index=True)  # the plural
    groups: Mapped[list[str]] = mapped_column(JSONType, default=list)
    measures: Mapped[list[str]] = mapped_column(JSONType, default=list)
    #: "building" until the first build is committed, then "ready"; "drift" when a check
    #: found its totals off (it is not read until rebuilt)
    status: Mapped[str] = mapped_column(String(10), default="building")
    #: a saved report it was made for (``None``: declared with the CLI)
    report_id: Mapped[int | None] = mapped_column(
        ForeignKey("insights_report.id", ondelete="SET NULL"), index=True
    )
    built_at: Mapped[dt.datetime | None] = mapped_column(AwareDateTime)
    checked_at: Mapped[dt.datetime | None] = mapped_column(AwareDateTime)


class RollupRow(Base):
    """The count and sums of the records sharing one key (group values, currency, owner).

    Each group has a slot per kind of value - ``int_<n>`` (references, whole numbers,
    booleans), ``text_<n>``, ``day_<n>`` (dates) - so that rows sort and compare as the
    field's own values; ``key`` is a digest of the whole key, unique per rollup, for the
    upsert of each write. ``sum_<n>``/``count_<n>`` hold the sum and the number of non-empty
    values of measure ``n``.
    """

    __tablename__ = "insights_rollup_row"
    __table_args__ = (Index("ix_insights_rollup_row_rollup_id_owner_id", "rollup_id", "owner_id"),)

    rollup_id: Mapped[int] = mapped_column(
        ForeignKey("insights_rollup.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    int_1: Mapped[int | None] = mapped_column(BigInteger)
    text_1: Mapped[str | None] = mapped_column(String(255))
    day_1: Mapped[dt.date | None] = mapped_column(Date)
    int_2: Mapped[int | None] = mapped_column(BigInteger)
    text_2: Mapped[str | None] = mapped_column(String(255))
    day_2: Mapped[dt.date | None] = mapped_column(Date)
    currency: Mapped[str | None] = mapped_column(String(10))
    owner_id: Mapped[int | None] = mapped_column(Integer)
    records: Mapped[int] = mapped_column(BigInteger, default=0)
    sum_1: Mapped[Decimal] = mapped_column(SUM_TYPE, default=0)
    count_1: Mapped[int] = mapped_column(BigInteger, default=0)
    sum_2: Mapped[Decimal] = mapped_column(SUM_TYPE, default=0)
    count_2: Mapped[int] = mapped_column(BigInteger, default=0)
    sum_3: Mapped[Decimal] = mapped_column(SUM_TYPE, default=0)
    count_3: Mapped[int] = mapped_column(BigInteger, default=0)

