"""Purchase propensity per contact: a known signal and a random control, training on the order
history with a holdout, the window setting, the scores as a field (filters, reports, scope),
the contact panel and "too little data"."""

from __future__ import annotations

import datetime as dt
import random
import re
from typing import Any

import pytest
from insights_orders import audit_rows, instance_day, paid_order
from sqlalchemy import select

from crm_insights.analysis import propensity
from crm_insights.analysis.predict import MIN_PER_CLASS, fit
from crm_insights.analysis.prediction_fields import train_and_store


def synthetic(n: int, signal: bool, seed: int = 1) -> tuple[list[list[float]], list[int]]:
    """Feature rows of customers; with ``signal`` those who ordered often and lately buy."""
    rnd = random.Random(seed)
    x, y = [], []
    for _ in range(n):
        orders = rnd.randint(1, 12)
        recent = rnd.randint(0, min(orders, 4))
        since_last = rnd.randint(1, 400)
        since_first = since_last + rnd.randint(0, 700)
        spent = rnd.uniform(50, 5000)
        x.append(propensity.row(
            (dt.date(2026, 1, 1) - dt.timedelta(days=since_first),
             dt.date(2026, 1, 1) - dt.timedelta(days=since_last), orders, spent, recent),
            dt.date(2026, 1, 1),
        ))  # fmt: skip
        push = 1.2 * recent - 0.012 * since_last + 0.5 + rnd.gauss(0, 1)
        y.append(int(push > 0) if signal else rnd.randint(0, 1))
    return x, y


def test_known_signal_beats_075_and_random_labels_stay_near_half() -> None:
    x, y = synthetic(800, signal=True)
    trained = fit(x, y, names=propensity.FEATURES)
    assert trained["status"] == "ok" and trained["auc"] > 0.75
    weights = dict(zip(propensity.FEATURES, trained["params"]["coef"], strict=True))
    assert weights["recent_orders"] > 0.3 and weights["days_since_last_log"] < -0.3
    x, y = synthetic(800, signal=False, seed=2)
    assert abs(fit(x, y, names=propensity.FEATURES)["auc"] - 0.5) < 0.12


def test_the_window_setting() -> None:
    assert propensity.window_days({}) == 90
    assert propensity.window_days({propensity.SETTING: 30}) == 30
    for bad in (0, 6, 731, "30", True, None, 30.5):
        assert propensity.window_days({propensity.SETTING: bad}) == 90


def _field(session: Any, record: Any) -> Any:
    session.refresh(record)
    return (record.custom_fields or {}).get(propensity.FIELD)


@pytest.fixture
def customers(records: Any, session: Any, make_user: Any, make_contact: Any) -> dict[str, Any]:
    """Regular customers who ordered again after the cutoff (today - 90 days), one-off
    customers who never came back, and the contacts scored today: ``fresh`` (ordering lately)
    and ``lapsed`` of ``rep``, ``other_fresh`` of ``other``, ``prospect`` without orders."""
    today = instance_day(session)
    rep, other = make_user("sales_rep"), make_user("sales_rep")
    for i in range(MIN_PER_CLASS + 1):
        regular = make_contact(first_name=f"Regular {i}", owner_id=rep.id)
        for days in (200, 150, 100, 30 + i % 5):
            paid_order(records, regular, today - dt.timedelta(days=days))
        once = make_contact(first_name=f"Once {i}", owner_id=rep.id)
        paid_order(records, once, today - dt.timedelta(days=400 + i))
    fresh = make_contact(first_name="Fresh", owner_id=rep.id)
    other_fresh = make_contact(first_name="Other fresh", owner_id=other.id)
    for contact in (fresh, other_fresh):
        for days in (70, 40, 10):
            paid_order(records, contact, today - dt.timedelta(days=days))
    lapsed = make_contact(first_name="Lapsed", owner_id=rep.id)
    paid_order(records, lapsed, today - dt.timedelta(days=380))
    paid_order(records, lapsed, today - dt.timedelta(days=20), status="cancelled")  # not a purchase
    prospect = make_contact(first_name="Prospect", owner_id=rep.id)
    return {"rep": rep, "other": other, "fresh": fresh, "other_fresh": other_fresh,
            "lapsed": lapsed, "prospect": prospect}  # fmt: skip


@pytest.mark.crm_plugins("sales", "insights")
def test_trained_on_the_order_history_and_stored_as_a_field(
    crm: Any, session: Any, api_as: Any, admin: Any, customers: dict[str, Any]
) -> None:
    model = propensity.train(crm, session)
    assert model is not None and model.status == "ok" and model.version == 1
    # the lapsed customer ordered once before the cutoff: one more who did not come back
    assert (model.positives, model.negatives) == (MIN_PER_CLASS + 1, MIN_PER_CLASS + 2)
    assert model.auc is not None and model.auc > 0.75
    assert model.params["window_days"] == 90 and model.params["calibration"]
    session.commit()
    written = train_and_store(crm, session)
    # every customer of today: the 42 of the training, fresh, other fresh and lapsed
    assert written[propensity.NAME] == 2 * (MIN_PER_CLASS + 1) + 3
    fresh, lapsed = _field(session, customers["fresh"]), _field(session, customers["lapsed"])
    assert isinstance(fresh, int) and fresh >= 70 and lapsed < 30
    assert _field(session, customers["prospect"]) is None
    audits = audit_rows(session)
    assert train_and_store(crm, session)[propensity.NAME] == 0  # nothing moved: no write
    assert audit_rows(session) == audits
    # filters in the reader's scope, in the API and in reports
    query = "/api/v1/contacts?custom.purchase_propensity__gte=70&first_name__contains=fresh"
    found = api_as(admin).get(query + "&sort=id").get_json()["data"]
    assert [c["id"] for c in found] == [customers["fresh"].id, customers["other_fresh"].id]
    found = api_as(customers["rep"]).get(query).get_json()["data"]
    assert [c["id"] for c in found] == [customers["fresh"].id]
    assert (
        api_as(admin).get("/api/v1/contacts?custom.purchase_propensity__gte=x").status_code == 400
    )
    definition = {"entity": "contacts", "measures": ["count"],
                  "filters": {"custom.purchase_propensity__gte": "70",
                              "first_name__contains": "fresh"}}  # fmt: skip
    for user, count in ((admin, 2), (customers["rep"], 1)):
        response = api_as(user).post("/api/v1/reports/run", json=definition)
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["rows"][0]["count"] == count
    # a contact sent to the trash is no longer scored; the lapsed customer's scores stay
    crm.records(session=session).delete("contacts", customers["fresh"])
    assert train_and_store(crm, session)[propensity.NAME] == 0


@pytest.mark.crm_plugins("sales", "insights")
def test_panel_model_page_and_spanish(
    web_as: Any, app: Any, crm: Any, session: Any, make_user: Any, customers: dict[str, Any]
) -> None:
    train_and_store(crm, session)
    rep = web_as(customers["rep"])
    page = rep.get(f"/contacts/{customers['fresh'].id}").get_data(as_text=True)
    assert "Purchase propensity" in page and "of an order in the next 90 days" in page
    assert "model version 1" in page and "raises the probability" in page
    page = rep.get(f"/contacts/{customers['prospect'].id}").get_data(as_text=True)
    assert "No orders yet." in page
    models = rep.get("/insights/models/").get_data(as_text=True)
    assert 'id="model-purchase_propensity"' in models and "90 days" in models
    assert 'name="window_days"' not in models  # a rep may not change the setting
    # another rep may not open the contact
    assert web_as(customers["other"]).get(f"/contacts/{customers['fresh'].id}").status_code == 404
    spanish = web_as(make_user("admin", locale="es"))
    page = spanish.get(f"/contacts/{customers['fresh'].id}").get_data(as_text=True)
    assert "Propensión de compra" in page and "de un pedido en los próximos 90 días" in page
    assert "Purchase propensity" not in page and "of an order" not in page
    page = spanish.get("/insights/models/").get_data(as_text=True)
    assert "Ventana de compra" in page and "Purchase window" not in page


@pytest.mark.crm_plugins("sales", "insights")
def test_too_little_data(
    web_as: Any, app: Any, crm: Any, session: Any, records: Any, make_user: Any, make_contact: Any
) -> None:
    admin = make_user("admin")
    contact = make_contact(first_name="Solo", owner_id=admin.id)
    paid_order(records, contact, instance_day(session) - dt.timedelta(days=5))
    client = web_as(admin)
    assert "No model trained yet." in client.get(f"/contacts/{contact.id}").get_data(as_text=True)
    contact_model = records.entity("contacts").model
    # a stale score from an earlier model is emptied while the model has too little data
    session.execute(contact_model.__table__.update().where(contact_model.id == contact.id)
                    .values(custom_fields={propensity.FIELD: 50}))  # fmt: skip
    session.commit()
    session.expire_all()  # the bulk update bypassed the loaded contact
    assert train_and_store(crm, session)[propensity.NAME] == 1
    assert _field(session, contact) is None
    latest = propensity.train(crm, session)
    assert latest is not None and latest.status == "too_little_data" and latest.auc is None
    session.commit()
    assert propensity.predict(crm, session, contact.id) is None
    text = "Too little data to predict: 0 customers ordered and 0 did not in the 90 days"
    assert text in client.get(f"/contacts/{contact.id}").get_data(as_text=True)
    assert text in client.get("/insights/models/").get_data(as_text=True)


@pytest.mark.crm_plugins("sales", "insights")
def test_the_window_is_set_by_administrators(
    web_as: Any, app: Any, crm: Any, session: Any, make_user: Any, customers: dict[str, Any]
) -> None:
    from crmcore.settings import get_settings

    admin = web_as(make_user("admin"))
    page = admin.get("/insights/models/").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token and 'name="window_days"' in page and 'value="90"' in page
    for bad in ("abc", "6", "731", "-5", ""):
        response = admin.post("/insights/models/window",
                              data={"csrf_token": token[1], "window_days": bad})  # fmt: skip
        assert response.status_code == 422, bad
        text = response.get_data(as_text=True)
        assert "Enter a whole number of days from 7 to 730." in text
        assert 'aria-invalid="true"' in text
    assert propensity.SETTING not in get_settings(session)
    response = admin.post("/insights/models/window", data={"window_days": "30"})
    assert response.status_code == 400  # no CSRF token
    response = admin.post("/insights/models/window",
                          data={"csrf_token": token[1], "window_days": "30"})  # fmt: skip
    assert response.status_code == 303
    assert get_settings(session)[propensity.SETTING] == 30
    rep = web_as(customers["rep"])
    token = re.search(r'name="csrf_token" value="([^"]+)"', rep.get("/contacts").get_data(True))
    assert token
    response = rep.post("/insights/models/window",
                        data={"csrf_token": token[1], "window_days": "60"})  # fmt: skip
    assert response.status_code == 403
    assert get_settings(session)[propensity.SETTING] == 30
    model = propensity.train(crm, session)
    assert model is not None and model.params["window_days"] == 30


@pytest.mark.crm_plugins("sales", "insights", "automation")
def test_an_automation_condition_on_the_score(
    crm: Any, session: Any, admin: Any, customers: dict[str, Any]
) -> None:
    from crmcore.permissions import Access

    crm.records(Access.for_user(admin)).create(
        "workflows",
        {"name": "Likely buyers", "entity": "contacts", "trigger": {"type": "updated"},
         "conditions": "custom.purchase_propensity__gte=70",
         "actions": [{"type": "add_tags", "tags": ["likely-buyer"]}]},
    )  # fmt: skip
    train_and_store(crm, session)
    from crm_automation.models import AutomationRun

    fired = set(session.scalars(select(AutomationRun.record_id)))
    assert customers["fresh"].id in fired  # the score's write met the rule's condition
    assert customers["lapsed"].id not in fired and customers["prospect"].id not in fired


@pytest.mark.crm_plugins("insights")
def test_without_sales(crm: Any, session: Any) -> None:
    assert propensity.train(crm, session) is None
    assert train_and_store(crm, session) == {}
