"""Purchase propensity per contact: the probability that a customer buys in the next N days,
a logistic regression on the order history (counted orders, as in ``rfm``).

N is the instance setting ``insights_purchase_window_days`` (90 by default, 7 to 730). The
model learns from the past: with ``cutoff = today - N``, every customer with a counted order on
or before the cutoff is an example, described by their orders up to the cutoff and labelled by
whether they ordered in the N days after it. The fitted model then scores every customer
(contacts with a counted order up to today, not in the trash) from their orders up to today:
the chance of an order in the next N days. Training, the holdout (ROC AUC, calibration), the
versions and "too little data" are those of ``predict``; the window is stored with the model.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from crmcore.db import utcnow
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from .models import PredictionModel
from .predict import Score, current, fit, percent, score
from .rfm import _date, counted, instance_today, orders_entity
from .score_fields import store_scores

NAME = "purchase_propensity"
FIELD = "purchase_propensity"
SETTING = "insights_purchase_window_days"
DEFAULT_WINDOW = 90
MIN_WINDOW, MAX_WINDOW = 7, 730
FEATURES = ("orders_log", "recent_orders", "days_since_last_log", "days_since_first_log",
            "spent_log")  # fmt: skip

#: per contact: first and last order date, orders, money in the instance currency, orders in
#: the window before the reference date
History = dict[int, tuple[dt.date, dt.date, int, float, int]]


def window_days(settings: dict[str, Any]) -> int:
    """The prediction window N in days: the instance setting, or 90 when unset or invalid."""
    value = settings.get(SETTING)
    if isinstance(value, int) and not isinstance(value, bool) and MIN_WINDOW <= value <= MAX_WINDOW:
        return value
    return DEFAULT_WINDOW


def history(crm: Any, session: Session, at: dt.date, window: int, currency: str) -> History:
    """Per contact (not in the trash) with counted orders on or before ``at``: its figures."""
    entity = orders_entity(crm)
    if entity is None:
        return {}
    order = entity.model
    since = at - dt.timedelta(days=window)
    stmt = (
        select(
            order.contact_id,
            func.min(order.order_date),
            func.max(order.order_date),
            func.count(),
            func.sum(case((order.currency == currency, order.total), else_=0)),
            func.sum(case((order.order_date > since, 1), else_=0)),
        )
        .where(*counted(order), order.order_date <= at)
        .group_by(order.contact_id)
    )
    trashed = _trashed(crm, session)
    return {
        int(cid): (_date(first), _date(last), int(n), float(money or 0), int(recent or 0))
        for cid, first, last, n, money, recent in session.execute(stmt)
        if cid not in trashed
    }


def _trashed(crm: Any, session: Session) -> set[int]:
    contact = crm.registry.get("contacts").model
    return set(session.scalars(select(contact.id).where(contact.deleted_at.is_not(None))))


def buyers(crm: Any, session: Session, after: dt.date, until: dt.date) -> set[int]:
    """Contacts with a counted order in ``(after, until]``."""
    entity = orders_entity(crm)
    if entity is None:
        return set()
    order = entity.model
    stmt = (
        select(order.contact_id)
        .where(*counted(order), order.order_date > after, order.order_date <= until)
        .distinct()
    )
    return {int(cid) for cid in session.scalars(stmt)}


def row(figures: tuple[dt.date, dt.date, int, float, int], at: dt.date) -> list[float]:
    """The feature row (``FEATURES`` order) of one contact's figures at date ``at``."""
    first, last, orders, money, recent = figures
    return [
        math.log1p(orders),
        float(recent),
        math.log1p(max((at - last).days, 0)),
        math.log1p(max((at - first).days, 0)),
        math.log1p(max(money, 0.0)),
    ]


def dataset(
    crm: Any, session: Session, today: dt.date, window: int, currency: str
) -> tuple[list[list[float]], list[int]]:
    """Examples as of ``today - window``, labelled by an order in the window after it."""
    cutoff = today - dt.timedelta(days=window)
    past = history(crm, session, cutoff, window, currency)
    bought = buyers(crm, session, cutoff, today)
    ids = sorted(past)
    return [row(past[i], cutoff) for i in ids], [int(i in bought) for i in ids]


def _context(session: Session) -> tuple[dt.date, int, str]:
    from crmcore.settings import get_settings

    settings = get_settings(session)
    return instance_today(settings), window_days(settings), str(settings["default_currency"])


def train(crm: Any, session: Session, today: dt.date | None = None) -> PredictionModel | None:
    """Train the model and store it with the next version (not committed); ``None`` without
    the plugin providing orders."""
    if orders_entity(crm) is None:
        return None
    instance_day, window, currency = _context(session)
    today = today or instance_day
    x, y = dataset(crm, session, today, window, currency)
    outcome = fit(x, y, names=FEATURES)
    outcome["params"] = {**outcome["params"], "window_days": window}
    stmt = select(func.max(PredictionModel.version)).where(PredictionModel.name == NAME)
    last = session.scalar(stmt)
    trained = PredictionModel(name=NAME, version=(last or 0) + 1, trained_at=utcnow(), **outcome)
    session.add(trained)
    session.flush()
    return trained


def predict(
    crm: Any, session: Session, contact_id: int, today: dt.date | None = None
) -> Score | None:
    """The contact's probability of buying in the model's window, or ``None`` without a usable
    model or without a counted order."""
    model = current(session, NAME)
    if model is None or model.status != "ok" or orders_entity(crm) is None:
        return None
    instance_day, window, currency = _context(session)
    today = today or instance_day
    figures = _one(crm, session, contact_id, today, window, currency)
    return None if figures is None else score(model, row(figures, today))


def _one(crm: Any, session: Session, contact_id: int, today: dt.date, window: int,
         currency: str) -> tuple[dt.date, dt.date, int, float, int] | None:  # fmt: skip
    order = orders_entity(crm).model  # type: ignore[union-attr]
    since = today - dt.timedelta(days=window)
    stmt = select(
        func.min(order.order_date),
        func.max(order.order_date),
        func.count(),
        func.sum(case((order.currency == currency, order.total), else_=0)),
        func.sum(case((order.order_date > since, 1), else_=0)),
    ).where(*counted(order), order.order_date <= today, order.contact_id == contact_id)
    first, last, n, money, recent = session.execute(stmt).one()
    if not n:
        return None
    return _date(first), _date(last), int(n), float(money or 0), int(recent or 0)


def sync_scores(
    crm: Any, session: Session, model: PredictionModel | None, today: dt.date | None = None
) -> int:
    """Store every customer's score (0-100) in the contact's ``purchase_propensity`` field,
    writing only contacts whose value changed; emptied for contacts that are no longer
    customers, and for all while ``model`` is not usable. Returns the number written."""
    instance_day, window, currency = _context(session)
    today = today or instance_day
    wanted: dict[int, int | None] = {}
    if model is not None and model.status == "ok":
        now = history(crm, session, today, window, currency)
        wanted = {cid: percent(score(model, row(f, today)).probability) for cid, f in now.items()}
    return store_scores(crm, session, FIELD, wanted)
