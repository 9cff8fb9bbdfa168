"""The SQLAlchemy model of the claims plugin. Tables start with ``claims_``."""

from __future__ import annotations

from decimal import Decimal

from crmcore.db import Base, CustomFieldsMixin, OwnedMixin, RecordMixin, TagsMixin
from sqlalchemy import ForeignKey, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column


class Claim(RecordMixin, OwnedMixin, CustomFieldsMixin, TagsMixin, Base):
    """A customer's warranty claim: what failed, what it costs, and the decision on it."""

    __tablename__ = "claims_claim"

    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=Decimal("0"))
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    decision_note: Mapped[str | None] = mapped_column(Text)
    # references to core records (docs/core-tables.md names the tables)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("core_contact.id", ondelete="CASCADE"), index=True
    )
    company_id: Mapped[int | None] = mapped_column(
        ForeignKey("core_company.id", ondelete="SET NULL"), index=True
    )
