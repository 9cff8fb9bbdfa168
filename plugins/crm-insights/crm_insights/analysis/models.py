"""Tables of the customer analysis: derived figures, recomputed by the periodic job (not
records: no audit, no trash; the job replaces them in bulk)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from crmcore.db import AwareDateTime, Base, JSONType
from sqlalchemy import Date, Float, ForeignKey, Integer, Numeric, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

Money = Numeric(14, 2)


class CustomerScore(Base):
    """RFM figures and lifetime value of one contact with at least one counted order."""

    __tablename__ = "insights_customer_score"

    contact_id: Mapped[int] = mapped_column(
        ForeignKey("core_contact.id", ondelete="CASCADE"), primary_key=True
    )
    first_order_on: Mapped[dt.date] = mapped_column(Date, index=True)
    last_order_on: Mapped[dt.date] = mapped_column(Date)
    orders: Mapped[int] = mapped_column(Integer)
    #: total of the orders in ``currency`` (the instance currency when computed)
    monetary: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3))
    recency_days: Mapped[int] = mapped_column(Integer)
    r: Mapped[int] = mapped_column(SmallInteger)
    f: Mapped[int] = mapped_column(SmallInteger)
    m: Mapped[int] = mapped_column(SmallInteger)
    segment: Mapped[str] = mapped_column(String(20), index=True)
    computed_at: Mapped[dt.datetime] = mapped_column(AwareDateTime)

    @property
    def score(self) -> str:
        """The three quintile scores as one code, ``"545"``."""
        return f"{self.r}{self.f}{self.m}"

    @property
    def average_order(self) -> Decimal:
        """Average order value in ``currency``."""
        if not self.orders:
            return Decimal(0)
        return (self.monetary / self.orders).quantize(Decimal("0.01"))


class ProductRule(Base):
    """An association rule "customers who bought ``product_id`` also bought ``other_id``"."""

    __tablename__ = "insights_product_rule"

    product_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    other_id: Mapped[int] = mapped_column(Integer, primary_key=True, index=True)
    #: customers who bought both
    customers: Mapped[int] = mapped_column(Integer)
    support: Mapped[float] = mapped_column(Float)
    confidence: Mapped[float] = mapped_column(Float)
    lift: Mapped[float] = mapped_column(Float)
    computed_at: Mapped[dt.datetime] = mapped_column(AwareDateTime)


class CallHour(Base):
    """Outgoing calls and answered calls in one local hour of the day, for one contact
    (``kind="contact"``, ``key`` its id), one country (``"country"``, ISO code) or all
    (``"all"``, ``key=""``)."""

    __tablename__ = "insights_call_hour"

    kind: Mapped[str] = mapped_column(String(10), primary_key=True)
    key: Mapped[str] = mapped_column(String(20), primary_key=True)
    hour: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    calls: Mapped[int] = mapped_column(Integer)
    answered: Mapped[int] = mapped_column(Integer)


class PredictionModel(Base):
    """One training of a prediction model: its holdout evaluation and its parameters.

    The parameters are plain numbers (a standardised logistic regression), not a pickle, so
    scoring needs no scikit-learn and loading a model runs no code.
    """

    __tablename__ = "insights_model"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(40), index=True)
    version: Mapped[int] = mapped_column(Integer)
    trained_at: Mapped[dt.datetime] = mapped_column(AwareDateTime)
    #: ``ok``, or ``too_little_data`` (then nothing is predicted)
    status: Mapped[str] = mapped_column(String(20))
    positives: Mapped[int] = mapped_column(Integer)
    negatives: Mapped[int] = mapped_column(Integer)
    auc: Mapped[float | None] = mapped_column(Float)
    #: ``{"features": [...], "mean": [...], "scale": [...], "coef": [...], "intercept": x,
    #: "calibration": [[predicted, observed, count], ...]}``
    params: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class StoredResult(Base):
    """A computed aggregate (a cohort table, a pinned report's rows) kept for every process
    until its data change: see :mod:`crm_insights.result_cache`."""

    __tablename__ = "insights_result_cache"

    #: SHA-256 of the kind and the reader's scoped statement (never shared across scopes)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    #: row count, highest id and latest ``updated_at`` of the tables read, when computed
    fingerprint: Mapped[str] = mapped_column(String(500))
    rows: Mapped[list[Any]] = mapped_column(JSONType)
    computed_at: Mapped[dt.datetime] = mapped_column(AwareDateTime, index=True)
