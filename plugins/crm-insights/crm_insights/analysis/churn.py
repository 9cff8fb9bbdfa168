"""Churn risk per contact: the probability that a customer buys nothing in the next N days,
a logistic regression on the order history, stored in the contact's ``churn_risk`` field.

N is the churn window, the instance setting ``insights_churn_window_days`` (180 by default,
7 to 730). The label: with ``cutoff = today - N``, a customer with at least one counted order
on or before the cutoff who has no counted order in the N days after it has churned (the
positive class); one who ordered again has not. The features describe the orders up to the
reference date: recency, frequency, money spent, tenure, the orders in the last window and
their trend against the window before, whether the customer ever came back, and how long it
has been since the last order against the customer's usual interval between orders. The
machinery (training, holdout, versions, "too little data", scores stored on the contact) is
:mod:`.customer_model`'s, shared with the purchase propensity.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import customer_model
from .customer_model import CustomerSpec, Figures
from .models import PredictionModel
from .predict import Score

NAME = "churn_risk"
FIELD = "churn_risk"
SETTING = "insights_churn_window_days"
DEFAULT_WINDOW = 180
MIN_WINDOW, MAX_WINDOW = customer_model.MIN_WINDOW, customer_model.MAX_WINDOW
FEATURES = ("days_since_last_log", "orders_log", "spent_log", "days_since_first_log",
            "recent_orders", "order_trend", "repeat_customer", "overdue_log")  # fmt: skip


def usual_interval(figures: Figures) -> float | None:
    """The customer's mean number of days between distinct order dates; ``None`` for a
    customer who ordered on a single date."""
    if figures.dates < 2:
        return None
    return max((figures.last - figures.first).days / (figures.dates - 1), 1.0)


def row(figures: Figures, at: dt.date) -> list[float]:
    """The feature row (``FEATURES`` order) of one contact's figures at date ``at``."""
    since_last = max((at - figures.last).days, 0)
    interval = usual_interval(figures)
    return [
        math.log1p(since_last),
        math.log1p(figures.orders),
        math.log1p(max(figures.money, 0.0)),
        math.log1p(max((at - figures.first).days, 0)),
        float(figures.recent),
        float(figures.recent - figures.earlier),
        float(interval is not None),
        0.0 if interval is None else math.log1p(since_last / interval),
    ]


SPEC = CustomerSpec(NAME, FIELD, SETTING, DEFAULT_WINDOW, FEATURES, row, churned=True)


def versions(session: Session) -> list[PredictionModel]:
    """The trained versions of the churn model, latest first."""
    stmt = (
        select(PredictionModel)
        .where(PredictionModel.name == NAME)
        .order_by(PredictionModel.version.desc())
    )
    return list(session.scalars(stmt))


def window_days(settings: dict[str, Any]) -> int:
    """The churn window N in days: the instance setting, or 180 when unset or invalid."""
    return customer_model.window_days(SPEC, settings)


def train(crm: Any, session: Session, today: dt.date | None = None) -> PredictionModel | None:
    """Train the model and store it with the next version (not committed); ``None`` without
    the plugin providing orders."""
    return customer_model.train(crm, session, SPEC, today)


def predict(
    crm: Any, session: Session, contact_id: int, today: dt.date | None = None
) -> Score | None:
    """The contact's probability of buying nothing in the model's window, or ``None`` without
    a usable model or without a counted order."""
    return customer_model.predict(crm, session, SPEC, contact_id, today)


def sync_scores(
    crm: Any, session: Session, model: PredictionModel | None, today: dt.date | None = None
) -> int:
    """Store every customer's churn risk (0-100) in the contact's ``churn_risk`` field; see
    :func:`.customer_model.sync_scores`."""
    return customer_model.sync_scores(crm, session, SPEC, model, today)
