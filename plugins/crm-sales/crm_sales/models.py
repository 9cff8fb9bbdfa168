"""The tables of the sales plugin, all prefixed ``sales_``.

Money is ``Numeric(14, 2)`` (read back as ``Decimal``); currencies are ISO 4217 codes. Quote and
order lines are JSON lists whose amounts are decimal strings computed on the server
(:mod:`crm_sales.pricing`), so no float ever touches money.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, Numeric, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crmcore.db import (
    AwareDateTime,
    Base,
    CustomFieldsMixin,
    JSONType,
    OwnedMixin,
    RecordMixin,
    TagsMixin,
    utcnow,
)

Money = Numeric(14, 2)
Percent = Numeric(5, 2)

LEAD_STATUSES = ("new", "contacted", "qualified", "unqualified", "converted")
QUOTE_STATUSES = ("draft", "sent", "accepted", "rejected")
ORDER_STATUSES = (
    "draft",
    "confirmed",
    "paid",
    "partially_shipped",
    "shipped",
    "delivered",
    "cancelled",
)
SHIPMENT_STATUSES = ("pending", "shipped", "in_transit", "delivered", "returned")


class Lead(RecordMixin, OwnedMixin, CustomFieldsMixin, TagsMixin, Base):
    """Someone who may buy, before they become a contact (and maybe a deal)."""

    __tablename__ = "sales_lead"

    first_name: Mapped[str] = mapped_column(String(100), default="")
    last_name: Mapped[str] = mapped_column(String(100), default="")
    email: Mapped[str | None] = mapped_column(String(254), index=True)
    phone: Mapped[str | None] = mapped_column(String(40))
    title: Mapped[str | None] = mapped_column(String(100))
    company_name: Mapped[str | None] = mapped_column(String(200))
    website: Mapped[str | None] = mapped_column(String(300))
    source: Mapped[str | None] = mapped_column(String(100), index=True)
    status: Mapped[str] = mapped_column(String(20), default="new", index=True)
    score: Mapped[int] = mapped_column(Integer, default=0)
    description: Mapped[str | None] = mapped_column(Text)
    converted_at: Mapped[dt.datetime | None] = mapped_column(AwareDateTime)
    contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("core_contact.id", ondelete="SET NULL"), index=True
    )
    company_id: Mapped[int | None] = mapped_column(
        ForeignKey("core_company.id", ondelete="SET NULL"), index=True
    )
    deal_id: Mapped[int | None] = mapped_column(
        ForeignKey("sales_deal.id", ondelete="SET NULL"), index=True
    )


class Pipeline(RecordMixin, Base):
    """A named sales process: an ordered list of stages."""

    __tablename__ = "sales_pipeline"

    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    position: Mapped[int] = mapped_column(Integer, default=0)


class Stage(RecordMixin, Base):
    """One step of a pipeline, with the default probability of its deals."""

    __tablename__ = "sales_stage"

    pipeline_id: Mapped[int] = mapped_column(
        ForeignKey("sales_pipeline.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(Integer, default=0)
    probability: Mapped[int] = mapped_column(Integer, default=0)
    is_won: Mapped[bool] = mapped_column(Boolean, default=False)
    is_lost: Mapped[bool] = mapped_column(Boolean, default=False)


class Deal(RecordMixin, OwnedMixin, CustomFieldsMixin, TagsMixin, Base):
    """An opportunity: an amount expected to close at a stage of one pipeline."""

    __tablename__ = "sales_deal"

    title: Mapped[str] = mapped_column(String(200))
    amount: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"))
    currency: Mapped[str] = mapped_column(String(3))
    pipeline_id: Mapped[int] = mapped_column(ForeignKey("sales_pipeline.id"), index=True)
    stage_id: Mapped[int] = mapped_column(ForeignKey("sales_stage.id"), index=True)
    probability: Mapped[int] = mapped_column(Integer, default=0)
    close_date: Mapped[dt.date | None] = mapped_column(Date, index=True)
    contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("core_contact.id", ondelete="SET NULL"), index=True
    )
    company_id: Mapped[int | None] = mapped_column(
        ForeignKey("core_company.id", ondelete="SET NULL"), index=True
    )
    lost_reason: Mapped[str | None] = mapped_column(String(300))
    stage_changed_at: Mapped[dt.datetime | None] = mapped_column(AwareDateTime)
    description: Mapped[str | None] = mapped_column(Text)


class StageChange(Base):
    """Stage history of a deal: when it entered a stage and when it left it."""

    __tablename__ = "sales_stage_change"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deal_id: Mapped[int] = mapped_column(
        ForeignKey("sales_deal.id", ondelete="CASCADE"), index=True
    )
    stage_id: Mapped[int] = mapped_column(ForeignKey("sales_stage.id", ondelete="CASCADE"))
    entered_at: Mapped[dt.datetime] = mapped_column(AwareDateTime, default=utcnow)
    left_at: Mapped[dt.datetime | None] = mapped_column(AwareDateTime)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("core_user.id", ondelete="SET NULL"))

    deal: Mapped[Deal] = relationship()


class Product(RecordMixin, CustomFieldsMixin, TagsMixin, Base):
    """Something sold, with a unit price per currency (``{"EUR": "10.00"}``)."""

    __tablename__ = "sales_product"

    sku: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    description: Mapped[str | None] = mapped_column(Text)
    prices: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    tax_rate: Mapped[Decimal] = mapped_column(Percent, default=Decimal("0.00"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class PriceList(RecordMixin, Base):
    """Special unit prices in one currency, optionally for one customer group."""

    __tablename__ = "sales_price_list"

    name: Mapped[str] = mapped_column(String(100), unique=True)
    currency: Mapped[str] = mapped_column(String(3))
    customer_group: Mapped[str | None] = mapped_column(String(100), index=True)
    #: ``{"<product id>": "9.50"}``
    prices: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Quote(RecordMixin, OwnedMixin, CustomFieldsMixin, TagsMixin, Base):
    """An offer to a customer; its totals are computed from its lines on every write."""

    __tablename__ = "sales_quote"

    number: Mapped[str] = mapped_column(String(20), unique=True)
    title: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default="draft", index=True)
    currency: Mapped[str] = mapped_column(String(3))
    contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("core_contact.id", ondelete="SET NULL"), index=True
    )
    company_id: Mapped[int | None] = mapped_column(
        ForeignKey("core_company.id", ondelete="SET NULL"), index=True
    )
    deal_id: Mapped[int | None] = mapped_column(
        ForeignKey("sales_deal.id", ondelete="SET NULL"), index=True
    )
    price_list_id: Mapped[int | None] = mapped_column(
        ForeignKey("sales_price_list.id", ondelete="SET NULL")
    )
    valid_until: Mapped[dt.date | None] = mapped_column(Date)
    notes: Mapped[str | None] = mapped_column(Text)
    lines: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    subtotal: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"))
    tax_total: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"))
    total: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"))
    sent_at: Mapped[dt.datetime | None] = mapped_column(AwareDateTime)


class Order(RecordMixin, OwnedMixin, CustomFieldsMixin, TagsMixin, Base):
    """A confirmed sale, usually made from an accepted quote."""

    __tablename__ = "sales_order"

    number: Mapped[str] = mapped_column(String(20), unique=True)
    status: Mapped[str] = mapped_column(String(20), default="draft", index=True)
    currency: Mapped[str] = mapped_column(String(3))
    contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("core_contact.id", ondelete="SET NULL"), index=True
    )
    company_id: Mapped[int | None] = mapped_column(
        ForeignKey("core_company.id", ondelete="SET NULL"), index=True
    )
    quote_id: Mapped[int | None] = mapped_column(
        ForeignKey("sales_quote.id", ondelete="SET NULL"), unique=True
    )
    deal_id: Mapped[int | None] = mapped_column(
        ForeignKey("sales_deal.id", ondelete="SET NULL"), index=True
    )
    order_date: Mapped[dt.date | None] = mapped_column(Date, index=True)
    notes: Mapped[str | None] = mapped_column(Text)
    lines: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    subtotal: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"))
    tax_total: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"))
    total: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"))


class Shipment(RecordMixin, OwnedMixin, Base):
    """A parcel of an order on its way to the customer."""

    __tablename__ = "sales_shipment"

    order_id: Mapped[int] = mapped_column(
        ForeignKey("sales_order.id", ondelete="CASCADE"), index=True
    )
    carrier: Mapped[str] = mapped_column(String(100))
    tracking_number: Mapped[str | None] = mapped_column(String(100), index=True)
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    shipped_at: Mapped[dt.date | None] = mapped_column(Date)
    delivered_at: Mapped[dt.date | None] = mapped_column(Date)
    #: ``[{"line": 1, "quantity": "2", "description": "..."}]``: order line positions (from 1)
    lines: Mapped[list[Any]] = mapped_column(JSONType, default=list)


class Quota(RecordMixin, OwnedMixin, Base):
    """What an owner should win in one period (``2026-03`` or ``2026-Q1``), in the instance
    currency."""

    __tablename__ = "sales_quota"
    #: one live quota per owner and period (a trashed one does not count)
    __table_args__ = (
        Index(
            "uq_sales_quota_owner_period",
            "owner_id",
            "period",
            unique=True,
            sqlite_where=text("deleted_at IS NULL"),
            postgresql_where=text("deleted_at IS NULL"),
        ),
    )

    period: Mapped[str] = mapped_column(String(7), index=True)
    amount: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"))
