"""Purchase propensity per contact: the probability that a customer buys in the next N days,
a logistic regression on the order history (counted orders, as in ``rfm``).

N is the instance setting ``insights_purchase_window_days`` (90 by default, 7 to 730). Every
customer with a counted order on or before ``today - N`` is an example, labelled by whether
they ordered in the N days after it; the machinery (history, training, holdout, versions,
scores stored on the contact) is :mod:`.customer_model`'s, shared with the churn risk.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from . import customer_model
from .customer_model import CustomerSpec, Figures
from .models import PredictionModel
from .predict import Score

NAME = "purchase_propensity"
FIELD = "purchase_propensity"
SETTING = "insights_purchase_window_days"
DEFAULT_WINDOW = 90
FEATURES = ("orders_log", "recent_orders", "days_since_last_log", "days_since_first_log",
            "spent_log")  # fmt: skip
MIN_WINDOW, MAX_WINDOW = customer_model.MIN_WINDOW, customer_model.MAX_WINDOW


def row(figures: Sequence[Any], at: dt.date) -> list[float]:
    """The feature row (``FEATURES`` order) of one contact's figures at date ``at``."""
    f = Figures(*figures)
    return [
        math.log1p(f.orders),
        float(f.recent),
        math.log1p(max((at - f.last).days, 0)),
        math.log1p(max((at - f.first).days, 0)),
        math.log1p(max(f.money, 0.0)),
    ]


SPEC = CustomerSpec(NAME, FIELD, SETTING, DEFAULT_WINDOW, FEATURES, row)


def window_days(settings: dict[str, Any]) -> int:
    """The prediction window N in days: the instance setting, or 90 when unset or invalid."""
    return customer_model.window_days(SPEC, settings)


def train(crm: Any, session: Session, today: dt.date | None = None) -> PredictionModel | None:
    """Train the model and store it with the next version (not committed); ``None`` without
    the plugin providing orders."""
    return customer_model.train(crm, session, SPEC, today)


def predict(
    crm: Any, session: Session, contact_id: int, today: dt.date | None = None
) -> Score | None:
    """The contact's probability of buying in the model's window, or ``None`` without a usable
    model or without a counted order."""
    return customer_model.predict(crm, session, SPEC, contact_id, today)


def sync_scores(
    crm: Any, session: Session, model: PredictionModel | None, today: dt.date | None = None
) -> int:
    """Store every customer's score (0-100) in the contact's ``purchase_propensity`` field;
    see :func:`.customer_model.sync_scores`."""
    return customer_model.sync_scores(crm, session, SPEC, model, today)
