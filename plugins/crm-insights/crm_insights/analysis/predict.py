"""Deal win probability: a logistic regression trained on closed deals, with a holdout.

Features of a deal (computed in bulk, one grouped query each): the amount (``log1p``), calls,
meetings and e-mails logged on it, its notes, whether it has a contact and a company. Won deals
(a stage marked won) are the positives, lost deals the negatives; open deals are scored.

Training (scikit-learn, imported only here) holds out a quarter of the examples, stratified,
to measure the ROC AUC and a calibration table, then keeps the fitted parameters as plain
numbers with a new version. With fewer than ``MIN_PER_CLASS`` examples of either class the
model is stored as ``too_little_data`` and nothing is predicted.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from crmcore.db import utcnow
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .models import PredictionModel
from .rfm import orders_entity

NAME = "deal_win"
MIN_PER_CLASS = 20
HOLDOUT = 0.25
FEATURES = ("amount_log", "calls", "meetings", "emails", "notes", "has_contact", "has_company")
FACTORS = 3


def sales_enabled(crm: Any) -> bool:
    """Whether the plugin providing deals is enabled (the same as the one providing orders)."""
    return orders_entity(crm) is not None


def _counts(session: Session, model: Any, ids: Sequence[int], kind: str | None) -> dict[int, int]:
    where = [model.record_type == "deal", model.deleted_at.is_(None), model.record_id.in_(ids)]
    if kind is not None:
        where.append(model.kind == kind)
    stmt = select(model.record_id, func.count()).where(*where).group_by(model.record_id)
    return {int(i): int(n) for i, n in session.execute(stmt)}


def features(crm: Any, session: Session, deals: Sequence[Any]) -> list[list[float]]:
    """The feature rows of ``deals`` (in ``FEATURES`` order)."""
    ids = [d.id for d in deals]
    activity = crm.registry.get("activities").model
    note = crm.registry.get("notes").model
    by_kind = {k: _counts(session, activity, ids, k) for k in ("call", "meeting", "email")}
    notes = _counts(session, note, ids, None)
    return [
        [
            math.log1p(max(float(d.amount or 0), 0.0)),
            float(by_kind["call"].get(d.id, 0)),
            float(by_kind["meeting"].get(d.id, 0)),
            float(by_kind["email"].get(d.id, 0)),
            float(notes.get(d.id, 0)),
            float(d.contact_id is not None),
            float(d.company_id is not None),
        ]
        for d in deals
    ]


def dataset(crm: Any, session: Session) -> tuple[list[list[float]], list[int]]:
    """Feature rows and labels (1 won, 0 lost) of the closed deals not in the trash."""
    deal = crm.registry.get("deals").model
    stage = crm.registry.get("stages").model
    stmt = (
        select(deal, stage.is_won)
        .join(stage, stage.id == deal.stage_id)
        .where(deal.deleted_at.is_(None), (stage.is_won) | (stage.is_lost))
        .order_by(deal.id)
    )
    rows = list(session.execute(stmt))
    return features(crm, session, [r[0] for r in rows]), [int(bool(r[1])) for r in rows]


def fit(x: Sequence[Sequence[float]], y: Sequence[int], seed: int = 0) -> dict[str, Any]:
    """Train and evaluate on a holdout; the outcome as ``PredictionModel`` columns."""
    positives, negatives = sum(y), len(y) - sum(y)
    result: dict[str, Any] = {"positives": positives, "negatives": negatives, "auc": None}
    if min(positives, negatives) < MIN_PER_CLASS:
        return {**result, "status": "too_little_data", "params": {}}
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=int)
    x_train, x_test, y_train, y_test = train_test_split(
        xs, ys, test_size=HOLDOUT, stratify=ys, random_state=seed
    )
    scaler = StandardScaler().fit(x_train)
    scale = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
    model = LogisticRegression(max_iter=1000).fit((x_train - scaler.mean_) / scale, y_train)
    predicted = model.predict_proba((x_test - scaler.mean_) / scale)[:, 1]
    auc = float(roc_auc_score(y_test, predicted))
    return {
        **result,
        "status": "ok",
        "auc": round(auc, 4),
        "params": {
            "features": list(FEATURES),
            "mean": [float(v) for v in scaler.mean_],
            "scale": [float(v) for v in scale],
            "coef": [float(v) for v in model.coef_[0]],
            "intercept": float(model.intercept_[0]),
            "calibration": calibration(predicted.tolist(), y_test.tolist()),
        },
    }


def calibration(predicted: Sequence[float], actual: Sequence[int], bins: int = 5) -> list[Any]:
    """Per band of predicted probability: its mean prediction, the observed rate, the count."""
    out = []
    for b in range(bins):
        low, high = b / bins, (b + 1) / bins
        members = [
            (p, a) for p, a in zip(predicted, actual, strict=True)
            if low <= p < high or (b == bins - 1 and p == 1.0)
        ]  # fmt: skip
        if members:
            mean = sum(p for p, _a in members) / len(members)
            rate = sum(a for _p, a in members) / len(members)
            out.append([round(mean, 3), round(rate, 3), len(members)])
    return out


def train(crm: Any, session: Session) -> PredictionModel | None:
    """Train the deal model and store it with the next version (not committed); ``None``
    without the Sales plugin."""
    if not sales_enabled(crm):
        return None
    x, y = dataset(crm, session)
    outcome = fit(x, y)
    last = session.scalar(
        select(func.max(PredictionModel.version)).where(PredictionModel.name == NAME)
    )
    row = PredictionModel(name=NAME, version=(last or 0) + 1, trained_at=utcnow(), **outcome)
    session.add(row)
    session.flush()
    return row


def current(session: Session) -> PredictionModel | None:
    """The latest trained deal model."""
    stmt = (
        select(PredictionModel)
        .where(PredictionModel.name == NAME)
        .order_by(PredictionModel.version.desc())
        .limit(1)
    )
    return session.scalar(stmt)


@dataclass(frozen=True)
class Score:
    """A prediction and the features that moved it most (name, contribution in log-odds)."""

    probability: float
    version: int
    factors: list[tuple[str, float]]


def score(model: PredictionModel, row: Sequence[float]) -> Score:
    """Score one feature row with a stored model."""
    p = model.params
    parts = [
        c * (v - m) / s for c, v, m, s in zip(p["coef"], row, p["mean"], p["scale"], strict=True)
    ]
    logit = p["intercept"] + sum(parts)
    probability = 1 / (1 + math.exp(-max(min(logit, 50), -50)))
    ranked = sorted(zip(p["features"], parts, strict=True), key=lambda t: -abs(t[1]))
    return Score(probability, model.version, [(n, round(c, 3)) for n, c in ranked[:FACTORS] if c])


def predict_deal(crm: Any, session: Session, deal: Any) -> Score | None:
    """The win probability of a deal, or ``None`` when no usable model exists."""
    model = current(session)
    if model is None or model.status != "ok":
        return None
    return score(model, features(crm, session, [deal])[0])
