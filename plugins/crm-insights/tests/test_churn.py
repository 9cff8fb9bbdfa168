"""Churn risk per contact, a trained model: the label, a known signal and a random control,
training on the order history with a holdout stored per version, the window setting, the
scores in the ``churn_risk`` field (filters, reports, scope), the contact panel and its
factors, the model page in English and Spanish, and "too little data"."""

from __future__ import annotations

import datetime as dt
import math
import random
import re
from typing import Any

import pytest
from insights_orders import audit_rows, days_ago, instance_day, paid_order

from crm_insights.analysis import churn, customer_model
from crm_insights.analysis.customer_model import Figures
from crm_insights.analysis.jobs import train_models
from crm_insights.analysis.predict import MIN_PER_CLASS, fit
from crm_insights.analysis.prediction_fields import train_and_store

DAY = dt.date(2026, 1, 1)


def synthetic(n: int, signal: bool, seed: int = 1) -> tuple[list[list[float]], list[int]]:
    """Feature rows of customers; with ``signal`` those long overdue against their usual
    interval, ordering less than before, churn."""
    rnd = random.Random(seed)
    x, y = [], []
    for _ in range(n):
        dates = rnd.randint(1, 12)
        interval = rnd.randint(15, 120)
        since_last = rnd.randint(1, 500)
        since_first = since_last + interval * (dates - 1)
        recent, earlier = rnd.randint(0, 3), rnd.randint(0, 3)
        figures = Figures(DAY - dt.timedelta(days=since_first), DAY - dt.timedelta(days=since_last),
                          dates + rnd.randint(0, 2), rnd.uniform(50, 5000), recent, earlier,
                          dates)  # fmt: skip
        x.append(churn.row(figures, DAY))
        overdue = since_last / interval if dates > 1 else since_last / 90
        push = 1.5 * (overdue - 2) - 0.6 * (recent - earlier) + rnd.gauss(0, 1)
        y.append(int(push > 0) if signal else rnd.randint(0, 1))
    return x, y


def test_known_signal_beats_075_and_random_labels_stay_near_half() -> None:
    x, y = synthetic(800, signal=True)
    trained = fit(x, y, names=churn.FEATURES)
    assert trained["status"] == "ok" and trained["auc"] > 0.75
    weights = dict(zip(churn.FEATURES, trained["params"]["coef"], strict=True))
    assert weights["overdue_log"] > 0.3 and weights["order_trend"] < -0.1
    for seed in (2, 3):
        x, y = synthetic(800, signal=False, seed=seed)
        assert abs(fit(x, y, names=churn.FEATURES)["auc"] - 0.5) < 0.12


def test_the_features() -> None:
    steady = Figures(dt.date(2025, 1, 1), dt.date(2025, 11, 27), 12, 1200.0, 3, 3, 12)
    assert churn.usual_interval(steady) == 30.0
    row = dict(zip(churn.FEATURES, churn.row(steady, DAY), strict=True))
    assert row["repeat_customer"] == 1.0 and row["order_trend"] == 0.0
    assert row["overdue_log"] == pytest.approx(math.log1p(35 / 30))  # 35 days, every 30
    once = Figures(dt.date(2025, 12, 1), dt.date(2025, 12, 1), 2, 10.0, 2, 0, 1)  # one day
    row = dict(zip(churn.FEATURES, churn.row(once, DAY), strict=True))
    assert churn.usual_interval(once) is None
    assert row["repeat_customer"] == 0.0 and row["overdue_log"] == 0.0 and row["order_trend"] == 2
    # the same date twice a day apart at most: an interval of at least a day, never a division
    close = Figures(DAY, DAY, 2, 0.0, 2, 0, 2)
    assert churn.usual_interval(close) == 1.0 and churn.row(close, DAY)[-1] == 0.0


def test_the_window_setting() -> None:
    assert churn.window_days({}) == 180
    assert churn.window_days({churn.SETTING: 30}) == 30
    for bad in (0, 6, 731, "30", True, None, 30.5):
        assert churn.window_days({churn.SETTING: bad}) == 180


def _field(session: Any, record: Any) -> Any:
    session.refresh(record)
    return (record.custom_fields or {}).get(churn.FIELD)


@pytest.mark.crm_plugins("sales", "insights")
def test_the_label(crm: Any, session: Any, records: Any, make_contact: Any) -> None:
    """An example is a customer with a counted order on or before the cutoff (today - window);
    churned (1) when no counted order follows within the window, 0 when one does."""
    today = instance_day(session)
    kept = make_contact(first_name="Kept")
    gone = make_contact(first_name="Gone")
    late = make_contact(first_name="Late")
    trashed = make_contact(first_name="Trashed")
    paid_order(records, kept, days_ago(session, 200))
    paid_order(records, kept, days_ago(session, 20))
    paid_order(records, gone, days_ago(session, 200))
    paid_order(records, gone, days_ago(session, 20), status="cancelled")  # not a purchase
    paid_order(records, gone, days_ago(session, 180))  # on the cutoff: before it, not after
    paid_order(records, late, days_ago(session, 100))  # a customer only since the cutoff
    paid_order(records, trashed, days_ago(session, 300))
    records.delete("contacts", trashed)
    x, y = customer_model.dataset(crm, session, churn.SPEC, today, 180, "EUR")
    assert y == [0, 1]  # kept, gone (in contact id order); late and trashed are no examples
    assert len(x[0]) == len(churn.FEATURES)
    past = customer_model.history(crm, session, today - dt.timedelta(days=180), 180, "EUR")
    assert past[gone.id].dates == 2 and past[gone.id].orders == 2


@pytest.fixture
def customers(records: Any, session: Any, make_user: Any, make_contact: Any) -> dict[str, Any]:
    """Loyal customers who ordered every 60 days and again after the cutoff (today - 180
    days), customers who stopped long before it, and the contacts scored today: ``active``
    (ordering lately) and ``lapsed`` of ``rep``, ``other_active`` of ``other``, ``prospect``
    without orders."""
    rep, other = make_user("sales_rep"), make_user("sales_rep")
    for i in range(MIN_PER_CLASS + 1):
        loyal = make_contact(first_name=f"Loyal {i}", owner_id=rep.id)
        for days in (370, 310, 250, 190 + i % 5, 60):
            paid_order(records, loyal, days_ago(session, days))
        gone = make_contact(first_name=f"Gone {i}", owner_id=rep.id)
        for days in (520 + i, 460 + i, 400 + i):
            paid_order(records, gone, days_ago(session, days))
    active = make_contact(first_name="Active", owner_id=rep.id)
    other_active = make_contact(first_name="Other active", owner_id=other.id)
    for contact in (active, other_active):
        for days in (100, 60, 20):
            paid_order(records, contact, days_ago(session, days))
    lapsed = make_contact(first_name="Lapsed", owner_id=rep.id)
    for days in (500, 450, 400):
        paid_order(records, lapsed, days_ago(session, days))
    paid_order(records, lapsed, days_ago(session, 10), status="cancelled")  # not a purchase
    prospect = make_contact(first_name="Prospect", owner_id=rep.id)
    return {"rep": rep, "other": other, "active": active, "other_active": other_active,
            "lapsed": lapsed, "prospect": prospect}  # fmt: skip


@pytest.mark.crm_plugins("sales", "insights")
def test_trained_on_the_order_history_and_stored_as_the_field(
    crm: Any, session: Any, api_as: Any, admin: Any, customers: dict[str, Any]
) -> None:
    model = churn.train(crm, session)
    assert model is not None and model.status == "ok" and model.version == 1
    # the lapsed customer stopped before the cutoff too: one more who churned
    assert (model.positives, model.negatives) == (MIN_PER_CLASS + 2, MIN_PER_CLASS + 1)
    assert model.auc is not None and model.auc > 0.75
    assert model.params["window_days"] == 180 and model.params["calibration"]
    assert model.params["features"] == list(churn.FEATURES)
    session.commit()
    written = train_and_store(crm, session)
    assert [m.version for m in churn.versions(session)] == [2, 1]  # both kept
    # every customer of today: the 43 of the training, active, other active (lapsed included)
    assert written[churn.NAME] == 2 * (MIN_PER_CLASS + 1) + 3
    active, lapsed = _field(session, customers["active"]), _field(session, customers["lapsed"])
    assert isinstance(active, int) and active < 30 and lapsed >= 70
    assert _field(session, customers["prospect"]) is None
    audits = audit_rows(session)
    assert train_and_store(crm, session)[churn.NAME] == 0  # nothing moved: no write
    assert audit_rows(session) == audits
    # the field keeps its name: filters in the reader's scope, in the API and in reports
    query = "/api/v1/contacts?custom.churn_risk__lte=30&first_name__contains=active"
    found = api_as(admin).get(query + "&sort=id").get_json()["data"]
    assert [c["id"] for c in found] == [customers["active"].id, customers["other_active"].id]
    found = api_as(customers["rep"]).get(query).get_json()["data"]
    assert [c["id"] for c in found] == [customers["active"].id]
    found = api_as(customers["other"]).get("/api/v1/contacts?custom.churn_risk__gte=70")
    assert found.get_json()["data"] == []  # the other rep's one customer is active
    assert api_as(admin).get("/api/v1/contacts?custom.churn_risk__gte=x").status_code == 400
    definition = {"entity": "contacts", "measures": ["count"],
                  "filters": {"custom.churn_risk__lte": "30",
                              "first_name__contains": "active"}}  # fmt: skip
    for user, count in ((admin, 2), (customers["rep"], 1)):
        response = api_as(user).post("/api/v1/reports/run", json=definition)
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["rows"][0]["count"] == count


@pytest.mark.crm_plugins("sales", "insights")
def test_the_nightly_job_stores_the_scores(app: Any, crm: Any, customers: dict[str, Any]) -> None:
    train_models(app)
    session = crm.session
    assert isinstance(_field(session, customers["lapsed"]), int)
    assert _field(session, customers["lapsed"]) > _field(session, customers["active"])
    assert [m.version for m in churn.versions(session)] == [1]


@pytest.mark.crm_plugins("sales", "insights")
def test_panel_scope_model_page_and_spanish(
    web_as: Any, app: Any, crm: Any, session: Any, make_user: Any, customers: dict[str, Any]
) -> None:
    train_and_store(crm, session)
    rep = web_as(customers["rep"])
    page = rep.get(f"/contacts/{customers['lapsed'].id}").get_data(as_text=True)
    assert "Churn risk" in page and "of no order in the next 180 days" in page
    assert "model version 1" in page and "Main factors:" in page
    assert "Days since the last order" in page or "Time since the last order" in page
    page = rep.get(f"/contacts/{customers['prospect'].id}").get_data(as_text=True)
    assert "of no order" not in page and "No orders yet." in page
    # another rep may not open the contact, so sees neither its score nor its factors
    response = web_as(customers["other"]).get(f"/contacts/{customers['lapsed'].id}")
    assert response.status_code == 404 and "of no order" not in response.get_data(as_text=True)
    models = rep.get("/insights/models/").get_data(as_text=True)
    section = models.split('id="model-churn_risk"', 1)[1].split("</section>", 1)[0]
    model = churn.versions(session)[0]
    assert model is not None and model.auc is not None
    assert "Churn window" in section and "180 days" in section
    assert f'<dd class="model-auc">{model.auc:.3f}</dd>' in section
    assert 'class="calibration"' in section and "Time since the last order" in section
    assert 'name="window_days"' not in models  # a rep may not change the settings
    spanish = web_as(make_user("admin", locale="es"))
    page = spanish.get(f"/contacts/{customers['lapsed'].id}").get_data(as_text=True)
    assert "Riesgo de abandono" in page and "de ningún pedido en los próximos 180 días" in page
    assert "of no order" not in page and "Churn risk" not in page
    page = spanish.get("/insights/models/").get_data(as_text=True)
    section = page.split('id="model-churn_risk"', 1)[1].split("</section>", 1)[0]
    assert "Riesgo de abandono" in section and "Ventana de abandono" in section
    assert f"{model.auc:.3f}" in section and "Calibración" in section
    assert "Churn" not in page and "Time since" not in page


@pytest.mark.crm_plugins("sales", "insights")
def test_the_churn_window_is_set_by_administrators(
    web_as: Any, app: Any, crm: Any, session: Any, make_user: Any, customers: dict[str, Any]
) -> None:
    from crmcore.settings import get_settings

    from crm_insights.analysis import propensity

    admin = web_as(make_user("admin"))
    page = admin.get("/insights/models/").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token and 'id="churn_risk-window_days"' in page and 'value="180"' in page
    assert page.count(">Save the churn window</button>") == 1  # two forms, each named
    assert page.count(">Save the window</button>") == 1
    for bad in ("abc", "6", "731", "-5", "", "١٢٠"):
        response = admin.post("/insights/models/window",
                              data={"csrf_token": token[1], "model": "churn_risk",
                                    "window_days": bad})  # fmt: skip
        assert response.status_code == 422, bad
        text = response.get_data(as_text=True)
        assert 'id="churn_risk-window_days-error"' in text
        assert 'aria-invalid="true"' in text and text.count('aria-invalid="true"') == 1
    response = admin.post(
        "/insights/models/window",
        data={"csrf_token": token[1], "model": "nope", "window_days": "30"},
    )
    assert response.status_code == 400
    assert churn.SETTING not in get_settings(session)
    response = admin.post("/insights/models/window",
                          data={"csrf_token": token[1], "model": "churn_risk",
                                "window_days": "120"})  # fmt: skip
    assert response.status_code == 303
    assert get_settings(session)[churn.SETTING] == 120
    assert propensity.SETTING not in get_settings(session)  # the other window untouched
    rep = web_as(customers["rep"])
    token = re.search(r'name="csrf_token" value="([^"]+)"', rep.get("/contacts").get_data(True))
    assert token
    response = rep.post("/insights/models/window",
                        data={"csrf_token": token[1], "model": "churn_risk",
                              "window_days": "60"})  # fmt: skip
    assert response.status_code == 403
    assert get_settings(session)[churn.SETTING] == 120
    model = churn.train(crm, session)
    assert model is not None and model.params["window_days"] == 120


@pytest.mark.crm_plugins("sales", "insights")
def test_too_little_data(
    web_as: Any, app: Any, crm: Any, session: Any, records: Any, make_user: Any, make_contact: Any
) -> None:
    admin = make_user("admin")
    contact = make_contact(first_name="Solo", owner_id=admin.id)
    paid_order(records, contact, days_ago(session, 400))
    client = web_as(admin)
    assert "No model trained yet." in client.get(f"/contacts/{contact.id}").get_data(as_text=True)
    contact_model = records.entity("contacts").model
    # a stale score (the formula's, before the model) is emptied while data is too little
    session.execute(contact_model.__table__.update().where(contact_model.id == contact.id)
                    .values(custom_fields={churn.FIELD: 50}))  # fmt: skip
    session.commit()
    session.expire_all()  # the bulk update bypassed the loaded contact
    assert train_and_store(crm, session)[churn.NAME] == 1
    assert _field(session, contact) is None
    latest = churn.versions(session)[0]
    assert latest is not None and latest.status == "too_little_data" and latest.auc is None
    assert (latest.positives, latest.negatives) == (1, 0)
    assert churn.predict(crm, session, contact.id) is None
    text = ("Too little data to predict: 1 customers bought nothing and 0 ordered again in the "
            "180 days after their earlier orders; at least 20 of each are needed.")  # fmt: skip
    assert text in client.get(f"/contacts/{contact.id}").get_data(as_text=True)
    assert text in client.get("/insights/models/").get_data(as_text=True)
    spanish = web_as(make_user("admin", locale="es"))
    page = spanish.get("/insights/models/").get_data(as_text=True)
    assert "pocos datos para predecir" in page and "bought nothing" not in page


@pytest.mark.crm_plugins("insights")
def test_without_sales(crm: Any, session: Any) -> None:
    assert churn.train(crm, session) is None
    assert train_and_store(crm, session) == {}
