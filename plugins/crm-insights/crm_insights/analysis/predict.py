"""Deal win and lead conversion probabilities: logistic regressions trained on closed records,
with a holdout.

Features (computed in bulk, one grouped query each): the record's own (a deal's amount as
``log1p``, whether it has a contact and a company; whether a lead has an e-mail, a phone, a
company name, a website, a title), then the calls, meetings and e-mails logged on it and its
notes. Won deals (a stage marked won) and converted leads are the positives, lost deals and
unqualified leads the negatives; open ones are scored.

Training (scikit-learn, imported only here) holds out a quarter of the examples, stratified,
to measure the ROC AUC and a calibration table, then keeps the fitted parameters as plain
numbers with a new version. With fewer than ``MIN_PER_CLASS`` examples of either class the
model is stored as ``too_little_data`` and nothing is predicted.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from crmcore.db import utcnow
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .models import PredictionModel
from .rfm import orders_entity

MIN_PER_CLASS = 20
HOLDOUT = 0.25
FACTORS = 3
#: activity counts every model uses, after the record's own features
ACTIVITY_FEATURES = ("calls", "meetings", "emails", "notes")


@dataclass(frozen=True)
class Spec:
    """What one model predicts: the entity, its own features and how its examples are labelled.

    ``closed(crm)`` gives the conditions and the label expression (true = positive) of the
    records that are examples; ``is_open(crm, session, record)`` whether a record is scored;
    ``field`` the extra field holding an open record's score (0-100).
    """

    name: str
    entity: str
    record_type: str
    own: tuple[str, ...]
    values: Callable[[Any], list[float]]
    closed: Callable[[Any], tuple[list[Any], Any]]
    is_open: Callable[[Any, Session, Any], bool]
    field: str = ""

    @property
    def features(self) -> tuple[str, ...]:
        return (*self.own, *ACTIVITY_FEATURES)


def _deal_closed(crm: Any) -> tuple[list[Any], Any]:
    deal = crm.registry.get("deals").model
    stage = crm.registry.get("stages").model
    won = select(stage.id).where(stage.is_won)
    closed = select(stage.id).where(stage.is_won | stage.is_lost)
    return [deal.stage_id.in_(closed)], deal.stage_id.in_(won)


def _deal_open(crm: Any, session: Session, deal: Any) -> bool:
    stage = session.get(crm.registry.get("stages").model, deal.stage_id)
    return stage is None or not (stage.is_won or stage.is_lost)


def _lead_closed(crm: Any) -> tuple[list[Any], Any]:
    lead = crm.registry.get("leads").model
    return [lead.status.in_(("converted", "unqualified"))], lead.status == "converted"


DEAL = Spec(
    "deal_win",
    "deals",
    "deal",
    ("amount_log", "has_contact", "has_company"),
    lambda d: [
        math.log1p(max(float(d.amount or 0), 0.0)),
        float(d.contact_id is not None),
        float(d.company_id is not None),
    ],
    _deal_closed,
    _deal_open,
    field="win_probability",
)
LEAD = Spec(
    "lead_conversion",
    "leads",
    "lead",
    ("has_email", "has_phone", "has_company_name", "has_website", "has_title"),
    lambda r: [float(bool(v)) for v in (r.email, r.phone, r.company_name, r.website, r.title)],
    _lead_closed,
    lambda _crm, _session, lead: lead.status not in ("converted", "unqualified"),
    field="conversion_probability",
)
SPECS = {spec.name: spec for spec in (DEAL, LEAD)}
#: kept for the deal model's callers
NAME = DEAL.name
FEATURES = DEAL.features


def sales_enabled(crm: Any) -> bool:
    """Whether the plugin providing deals and leads is enabled (the one providing orders)."""
    return orders_entity(crm) is not None


#: ids per ``IN (...)``: PostgreSQL's driver takes at most 65,535 parameters a statement
ID_CHUNK = 10_000


def _counts(
    session: Session, model: Any, record_type: str, ids: Sequence[int], kind: str | None
) -> dict[int, int]:
    counts: dict[int, int] = {}
    for start in range(0, len(ids), ID_CHUNK):
        chunk = ids[start : start + ID_CHUNK]
        where = [
            model.record_type == record_type,
            model.deleted_at.is_(None),
            model.record_id.in_(chunk),
        ]
        if kind is not None:
            where.append(model.kind == kind)
        stmt = select(model.record_id, func.count()).where(*where).group_by(model.record_id)
        counts.update((int(i), int(n)) for i, n in session.execute(stmt))
    return counts


def features(
    crm: Any, session: Session, records: Sequence[Any], spec: Spec = DEAL
) -> list[list[float]]:
    """The feature rows of ``records`` (in ``spec.features`` order)."""
    ids = [r.id for r in records]
    activity = crm.registry.get("activities").model
    note = crm.registry.get("notes").model
    by_kind = {
        k: _counts(session, activity, spec.record_type, ids, k)
        for k in ("call", "meeting", "email")
    }
    notes = _counts(session, note, spec.record_type, ids, None)
    return [
        [
            *spec.values(r),
            float(by_kind["call"].get(r.id, 0)),
            float(by_kind["meeting"].get(r.id, 0)),
            float(by_kind["email"].get(r.id, 0)),
            float(notes.get(r.id, 0)),
        ]
        for r in records
    ]


def dataset(crm: Any, session: Session, spec: Spec = DEAL) -> tuple[list[list[float]], list[int]]:
    """Feature rows and labels (1 positive, 0 negative) of the closed records not in the trash."""
    model = crm.registry.get(spec.entity).model
    conditions, label = spec.closed(crm)
    stmt = select(model, label).where(model.deleted_at.is_(None), *conditions).order_by(model.id)
    rows = list(session.execute(stmt))
    return features(crm, session, [r[0] for r in rows], spec), [int(bool(r[1])) for r in rows]


def fit(
    x: Sequence[Sequence[float]],
    y: Sequence[int],
    seed: int = 0,
    names: Sequence[str] = FEATURES,
) -> dict[str, Any]:
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
            "features": list(names),
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


def train(crm: Any, session: Session, spec: Spec = DEAL) -> PredictionModel | None:
    """Train a model and store it with the next version (not committed); ``None`` without the
    Sales plugin."""
    if not sales_enabled(crm):
        return None
    x, y = dataset(crm, session, spec)
    outcome = fit(x, y, names=spec.features)
    stmt = select(func.max(PredictionModel.version)).where(PredictionModel.name == spec.name)
    last = session.scalar(stmt)
    row = PredictionModel(name=spec.name, version=(last or 0) + 1, trained_at=utcnow(), **outcome)
    session.add(row)
    session.flush()
    return row


def train_all(crm: Any, session: Session) -> list[PredictionModel]:
    """Train every model (the nightly job)."""
    return [m for spec in SPECS.values() if (m := train(crm, session, spec)) is not None]


def current(session: Session, name: str = NAME) -> PredictionModel | None:
    """The latest trained model called ``name``."""
    stmt = (
        select(PredictionModel)
        .where(PredictionModel.name == name)
        .order_by(PredictionModel.version.desc())
        .limit(1)
    )
    return session.scalar(stmt)


def percent(probability: float) -> int:
    """A probability as a whole percentage, 0-100."""
    return min(max(round(probability * 100), 0), 100)


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


def predict(crm: Any, session: Session, record: Any, spec: Spec = DEAL) -> Score | None:
    """The probability of a record, or ``None`` when no usable model exists."""
    model = current(session, spec.name)
    if model is None or model.status != "ok":
        return None
    return score(model, features(crm, session, [record], spec)[0])


def predict_deal(crm: Any, session: Session, deal: Any) -> Score | None:
    """The win probability of a deal, or ``None`` when no usable model exists."""
    return predict(crm, session, deal, DEAL)
