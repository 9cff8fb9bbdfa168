"""The loyalty ledger: one row per award or redemption; a contact's balance is their sum."""

from __future__ import annotations

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from crmcore.db import Base, RecordMixin


class LoyaltyEntry(RecordMixin, Base):
    """Points given to (positive) or redeemed by (negative) a contact."""

    __tablename__ = "loyalty_entry"

    contact_id: Mapped[int] = mapped_column(
        ForeignKey("core_contact.id", ondelete="CASCADE"), index=True
    )
    points: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(200))
    #: the sales order that earned the points; no foreign key: sales is optional
    order_id: Mapped[int | None] = mapped_column(Integer, index=True)
