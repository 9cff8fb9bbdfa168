"""Models of a customer's next orders, learnt from the order history (counted orders, as in
``rfm``): purchase propensity and churn risk share all of it but their label and features.

Each model has a window of N days (an instance setting). It learns from the past: with
``cutoff = today - N``, every customer with a counted order on or before the cutoff is an
example, described by their orders up to the cutoff (:class:`Figures`) and labelled by whether
they ordered in the N days after it (positive for propensity, negative for churn). The fitted
model then scores every customer (contacts with a counted order up to today, not in the trash)
from their orders up to today. Training, the holdout (ROC AUC, calibration), the versions and
"too little data" are those of ``predict``; the window is stored with the model.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

from crmcore.db import utcnow
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from .models import PredictionModel
from .predict import Score, current, fit, percent, score
from .rfm import _date, counted, instance_today, orders_entity
from .score_fields import store_scores

MIN_WINDOW, MAX_WINDOW = 7, 730


class Figures(NamedTuple):
    """One customer's orders up to a reference date, for a model with window N."""

    first: dt.date
    last: dt.date
    orders: int
    #: money of the orders in the instance currency
    money: float
    #: orders in the N days before the reference date
    recent: int
    #: orders in the N days before those
    earlier: int = 0
    #: distinct order dates
    dates: int = 1


@dataclass(frozen=True)
class CustomerSpec:
    """What one customer model predicts.

    ``churned`` picks the label: false, an order in the window after the cutoff is the positive
    class (propensity); true, no order in it is (churn). ``row`` turns a customer's figures at a
    date into the feature row (``features`` order).
    """

    name: str
    field: str
    setting: str
    default_window: int
    features: tuple[str, ...]
    row: Callable[[Figures, dt.date], list[float]]
    churned: bool = False


def window_days(spec: CustomerSpec, settings: dict[str, Any]) -> int:
    """The window N in days: the instance setting, or the model's default when unset or
    invalid."""
    value = settings.get(spec.setting)
    if isinstance(value, int) and not isinstance(value, bool) and MIN_WINDOW <= value <= MAX_WINDOW:
        return value
    return spec.default_window


def history(
    crm: Any,
    session: Session,
    at: dt.date,
    window: int,
    currency: str,
    contact_ids: Iterable[int] | None = None,
) -> dict[int, Figures]:
    """Per contact (not in the trash; only ``contact_ids`` when given) with counted orders on
    or before ``at``: its figures."""
    entity = orders_entity(crm)
    if entity is None:
        return {}
    order = entity.model
    since = at - dt.timedelta(days=window)
    before = since - dt.timedelta(days=window)
    stmt = (
        select(
            order.contact_id,
            func.min(order.order_date),
            func.max(order.order_date),
            func.count(),
            func.sum(case((order.currency == currency, order.total), else_=0)),
            func.sum(case((order.order_date > since, 1), else_=0)),
            func.sum(case(((order.order_date > before) & (order.order_date <= since), 1), else_=0)),
            func.count(order.order_date.distinct()),
        )
        .where(*counted(order), order.order_date <= at)
        .group_by(order.contact_id)
    )
    if contact_ids is not None:
        stmt = stmt.where(order.contact_id.in_(list(contact_ids)))
    trashed = _trashed(crm, session)
    out = {}
    for cid, first, last, n, money, recent, earlier, dates in session.execute(stmt):
        if cid not in trashed:
            out[int(cid)] = Figures(
                _date(first), _date(last), int(n), float(money or 0), int(recent or 0),
                int(earlier or 0), int(dates or 1),
            )  # fmt: skip
    return out


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


def dataset(
    crm: Any, session: Session, spec: CustomerSpec, today: dt.date, window: int, currency: str
) -> tuple[list[list[float]], list[int]]:
    """Examples as of ``today - window``, labelled by an order in the window after it (or by
    none, for a churn model)."""
    cutoff = today - dt.timedelta(days=window)
    past = history(crm, session, cutoff, window, currency)
    bought = buyers(crm, session, cutoff, today)
    ids = sorted(past)
    labels = [int((i in bought) != spec.churned) for i in ids]
    return [spec.row(past[i], cutoff) for i in ids], labels


def context(session: Session, spec: CustomerSpec) -> tuple[dt.date, int, str]:
    """The instance's today, the model's window and the instance currency."""
    from crmcore.settings import get_settings

    settings = get_settings(session)
    return (
        instance_today(settings),
        window_days(spec, settings),
        str(settings["default_currency"]),
    )


def train(
    crm: Any, session: Session, spec: CustomerSpec, today: dt.date | None = None
) -> PredictionModel | None:
    """Train the model and store it with the next version (not committed); ``None`` without
    the plugin providing orders."""
    if orders_entity(crm) is None:
        return None
    instance_day, window, currency = context(session, spec)
    today = today or instance_day
    x, y = dataset(crm, session, spec, today, window, currency)
    outcome = fit(x, y, names=spec.features)
    outcome["params"] = {**outcome["params"], "window_days": window}
    stmt = select(func.max(PredictionModel.version)).where(PredictionModel.name == spec.name)
    last = session.scalar(stmt)
    trained = PredictionModel(
        name=spec.name, version=(last or 0) + 1, trained_at=utcnow(), **outcome
    )
    session.add(trained)
    session.flush()
    return trained


def predict(
    crm: Any, session: Session, spec: CustomerSpec, contact_id: int, today: dt.date | None = None
) -> Score | None:
    """The contact's probability under the model (an order, or none for churn, in its window),
    or ``None`` without a usable model or without a counted order."""
    model = current(session, spec.name)
    if model is None or model.status != "ok" or orders_entity(crm) is None:
        return None
    instance_day, window, currency = context(session, spec)
    today = today or instance_day
    figures = history(crm, session, today, window, currency, [contact_id]).get(contact_id)
    return None if figures is None else score(model, spec.row(figures, today))


def sync_scores(
    crm: Any,
    session: Session,
    spec: CustomerSpec,
    model: PredictionModel | None,
    today: dt.date | None = None,
) -> int:
    """Store every customer's score (0-100) in the contact's ``spec.field``, writing only
    contacts whose value changed; emptied for contacts that are no longer customers, and for
    all while ``model`` is not usable. Returns the number written."""
    instance_day, window, currency = context(session, spec)
    today = today or instance_day
    wanted: dict[int, int | None] = {}
    if model is not None and model.status == "ok":
        now = history(crm, session, today, window, currency)
        wanted = {
            cid: percent(score(model, spec.row(f, today)).probability) for cid, f in now.items()
        }
    return store_scores(crm, session, spec.field, wanted)
