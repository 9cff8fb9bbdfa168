"""Deal win probability: training with a holdout, too little data, scores and their factors."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest
from sqlalchemy import select

from crm_insights.analysis.models import PredictionModel
from crm_insights.analysis.predict import (
    FEATURES,
    MIN_PER_CLASS,
    calibration,
    fit,
    predict_deal,
    score,
    train,
)


def synthetic(n: int, signal: bool, seed: int = 1) -> tuple[list[list[float]], list[int]]:
    """Rows of the deal model's features; the label follows calls and meetings when ``signal``."""
    rnd = random.Random(seed)
    x, y = [], []
    for _ in range(n):
        values = {"amount_log": rnd.uniform(5, 12), "calls": rnd.randint(0, 6),
                  "meetings": rnd.randint(0, 3), "emails": rnd.randint(0, 5),
                  "notes": rnd.randint(0, 4), "has_contact": rnd.randint(0, 1),
                  "has_company": rnd.randint(0, 1)}  # fmt: skip
        push = 0.9 * values["calls"] + 0.8 * values["meetings"] - 3.5 + rnd.gauss(0, 1)
        x.append([float(values[name]) for name in FEATURES])
        y.append(int(push > 0) if signal else rnd.randint(0, 1))
    return x, y


def test_known_signal_beats_075_and_random_labels_stay_near_half() -> None:
    x, y = synthetic(600, signal=True)
    trained = fit(x, y)
    assert trained["status"] == "ok" and trained["auc"] > 0.75
    weights = dict(zip(FEATURES, trained["params"]["coef"], strict=True))
    assert weights["calls"] > 0.5 and weights["meetings"] > 0.3  # the signal's features
    x, y = synthetic(600, signal=False, seed=2)
    assert abs(fit(x, y)["auc"] - 0.5) < 0.12


def test_too_little_data() -> None:
    x, y = synthetic(400, signal=True)
    few = [(r, label) for r, label in zip(x, y, strict=True) if label == 1][: MIN_PER_CLASS - 1]
    many = [(r, label) for r, label in zip(x, y, strict=True) if label == 0][:100]
    rows = few + many
    trained = fit([r for r, _ in rows], [label for _, label in rows])
    assert trained["status"] == "too_little_data" and trained["auc"] is None
    assert (trained["positives"], trained["negatives"]) == (MIN_PER_CLASS - 1, 100)
    assert fit([], [])["status"] == "too_little_data"


def test_score_and_factors() -> None:
    model = PredictionModel(
        version=3,
        status="ok",
        params={"features": ["a", "b", "c"], "mean": [0.0, 1.0, 0.0], "scale": [1.0, 2.0, 1.0],
                "coef": [2.0, -1.0, 0.0], "intercept": 0.0},
    )  # fmt: skip
    scored = score(model, [1.0, 3.0, 5.0])  # logit = 2 - 1 + 0 = 1
    assert math.isclose(scored.probability, 1 / (1 + math.exp(-1)))
    assert scored.version == 3 and scored.factors == [("a", 2.0), ("b", -1.0)]
    huge = score(model, [1e308, 1.0, 0.0])  # no overflow
    assert huge.probability == pytest.approx(1.0)


def test_calibration_bands() -> None:
    assert calibration([0.1, 0.15, 0.9, 1.0], [0, 1, 1, 1]) == [[0.125, 0.5, 2], [0.95, 1.0, 2]]


@pytest.fixture
def deals(records: Any, session: Any, make_user: Any) -> dict[str, Any]:
    """Won deals with calls logged, lost deals without, and one open deal of a rep."""
    stage = records.entity("stages").model
    stages = list(session.scalars(select(stage)))
    won = next(s for s in stages if s.is_won)
    lost = next(s for s in stages if s.is_lost)
    open_ = next(s for s in stages if not s.is_won and not s.is_lost)
    rep = make_user("sales_rep")

    def deal(title: str, stage_id: int, calls: int) -> Any:
        made = records.create(
            "deals",
            {"title": title, "amount": "1000", "currency": "EUR", "stage_id": stage_id,
             "pipeline_id": won.pipeline_id, "owner_id": rep.id},
        )  # fmt: skip
        for _ in range(calls):
            records.create(
                "activities",
                {"kind": "call", "subject": "Call", "occurred_at": "2026-03-01T10:00:00Z",
                 "record_type": "deal", "record_id": made.id, "outcome": "answered"},
            )  # fmt: skip
        return made

    for i in range(MIN_PER_CLASS + 4):
        deal(f"Won {i}", won.id, 2 + i % 2)
        deal(f"Lost {i}", lost.id, i % 4 // 3)
    hot = deal("Hot", open_.id, 3)
    return {"rep": rep, "hot": hot, "lost": lost, "open": open_, "deal": deal}


@pytest.mark.crm_plugins("sales", "insights")
def test_train_on_deals_and_panel(
    web_as: Any, app: Any, crm: Any, session: Any, make_user: Any, deals: dict[str, Any]
) -> None:
    model = train(crm, session)
    assert model is not None and model.status == "ok" and model.version == 1
    assert (model.positives, model.negatives) == (MIN_PER_CLASS + 4, MIN_PER_CLASS + 4)
    assert model.auc is not None and model.auc > 0.75
    scored = predict_deal(crm, session, deals["hot"])
    assert scored is not None and scored.probability > 0.5
    assert scored.factors[0][0] == "calls"
    assert train(crm, session).version == 2  # type: ignore[union-attr]
    session.commit()
    rep = web_as(deals["rep"])
    page = rep.get(f"/deals/{deals['hot'].id}").get_data(as_text=True)
    assert "Win probability" in page and "model version 2" in page
    assert "Calls logged: raises the probability" in page
    models = rep.get("/insights/models/").get_data(as_text=True)
    assert f'ROC AUC</dt><dd class="model-auc">{model.auc:.3f}</dd>' in models
    # another rep may not open the deal
    assert web_as(make_user("sales_rep")).get(f"/deals/{deals['hot'].id}").status_code == 404
    # a support agent may not read deals: the page shows only the contacts' model
    agent = web_as(make_user("support_agent")).get("/insights/models/")
    assert agent.status_code == 200
    assert 'id="model-purchase_propensity"' in agent.get_data(as_text=True)
    assert 'id="model-deal_win"' not in agent.get_data(as_text=True)


@pytest.mark.crm_plugins("sales", "insights")
def test_too_little_data_said_on_the_deal(
    web_as: Any, app: Any, crm: Any, session: Any, records: Any, make_user: Any
) -> None:
    stage = records.entity("stages").model
    open_ = session.scalars(select(stage).where(~stage.is_won, ~stage.is_lost)).first()
    admin = make_user("admin")
    made = records.create(
        "deals",
        {"title": "Lonely", "amount": "10", "currency": "EUR", "stage_id": open_.id,
         "pipeline_id": open_.pipeline_id},
    )  # fmt: skip
    client = web_as(admin)
    assert "No model trained yet." in client.get(f"/deals/{made.id}").get_data(as_text=True)
    model = train(crm, session)
    assert model is not None and model.status == "too_little_data"
    session.commit()
    assert predict_deal(crm, session, made) is None
    page = client.get(f"/deals/{made.id}").get_data(as_text=True)
    assert "Too little data to predict: 0 won and 0 lost deals" in page
    assert "Too little data" in client.get("/insights/models/").get_data(as_text=True)


@pytest.mark.crm_plugins("insights")
def test_without_sales(crm: Any, session: Any) -> None:
    assert train(crm, session) is None


@pytest.mark.crm_plugins("sales", "insights")
def test_panel_and_model_page_in_spanish(
    web_as: Any, app: Any, crm: Any, session: Any, make_user: Any, deals: dict[str, Any]
) -> None:
    train(crm, session)
    session.commit()
    client = web_as(make_user("admin", locale="es"))
    page = client.get(f"/deals/{deals['hot'].id}").get_data(as_text=True)
    assert "Probabilidad de ganar" in page and "Llamadas registradas: aumenta" in page
    assert "Win probability" not in page and "Main factors" not in page
    page = client.get("/insights/models/").get_data(as_text=True)
    assert "Modelos de predicción" in page and "Calibración" in page
    assert "Calibration on" not in page and "Weight of each" not in page


@pytest.mark.crm_plugins("sales", "insights")
def test_lead_conversion(
    web_as: Any, app: Any, crm: Any, session: Any, records: Any, make_user: Any
) -> None:
    """Converted leads came with a phone and got calls; unqualified ones did not."""
    from crm_insights.analysis.predict import LEAD, predict

    rep = make_user("sales_rep")

    def lead(status: str, phone: str | None, calls: int) -> Any:
        made = records.create(
            "leads",
            {"first_name": "L", "last_name": status, "phone": phone, "status": status,
             "owner_id": rep.id},
        )  # fmt: skip
        for _ in range(calls):
            records.create(
                "activities",
                {"kind": "call", "subject": "Call", "occurred_at": "2026-03-01T10:00:00Z",
                 "record_type": "lead", "record_id": made.id},
            )  # fmt: skip
        return made

    model = train(crm, session, LEAD)
    assert model is not None and model.status == "too_little_data"
    model_page = web_as(rep).get("/insights/models/").get_data(as_text=True)
    assert "0 converted and 0 unqualified leads" in model_page
    for i in range(MIN_PER_CLASS + 4):
        lead("unqualified", None if i % 3 else "+34600000000", i % 5 // 4)
    # leads cannot be created converted (conversion is an action): mark them in bulk
    converted = [lead("qualified", "+34600000000", 2 + i % 2) for i in range(MIN_PER_CLASS + 4)]
    model_cls = records.entity("leads").model
    session.execute(
        model_cls.__table__.update()
        .where(model_cls.id.in_([c.id for c in converted]))
        .values(status="converted")
    )
    fresh = lead("new", "+34600000000", 3)
    model = train(crm, session, LEAD)
    assert model is not None and model.status == "ok" and model.auc is not None
    assert model.auc > 0.75 and model.version == 2
    scored = predict(crm, session, fresh, LEAD)
    assert scored is not None and scored.probability > 0.5
    session.commit()
    page = web_as(rep).get(f"/leads/{fresh.id}").get_data(as_text=True)
    assert "Conversion probability" in page and "model version 2" in page


@pytest.mark.crm_plugins("sales", "insights")
def test_features_counted_in_chunks_of_ids(
    crm: Any, session: Any, deals: dict[str, Any], monkeypatch: Any
) -> None:
    """Ids go to the database in chunks (PostgreSQL takes at most 65,535 parameters): the
    feature rows are the same whatever the chunk size."""
    from crm_insights.analysis import predict

    whole = predict.dataset(crm, session)
    monkeypatch.setattr(predict, "ID_CHUNK", 7)
    assert predict.dataset(crm, session) == whole
    assert sum(row[-4] for row in whole[0]) > 0  # calls were counted
