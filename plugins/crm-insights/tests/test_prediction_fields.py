"""Scores stored as fields: filled after training, written only when changed, filterable in the
reader's scope, emptied when the model has too little data; a contact the record service
refuses is skipped (the churn risk model is in ``test_churn``)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from crm_insights.analysis import churn, propensity
from crm_insights.analysis.jobs import train_models
from crm_insights.analysis.predict import DEAL, LEAD, MIN_PER_CLASS, train
from crm_insights.analysis.prediction_fields import percent, sync_scores, train_and_store
from crm_insights.analysis.score_fields import store_scores

pytestmark = pytest.mark.crm_plugins("sales", "insights")


def _call(records: Any, record_type: str, record_id: int) -> None:
    records.create(
        "activities",
        {"kind": "call", "subject": "Call", "occurred_at": "2026-03-01T10:00:00Z",
         "record_type": record_type, "record_id": record_id, "outcome": "answered"},
    )  # fmt: skip


@pytest.fixture
def pipeline(records: Any, session: Any, make_user: Any) -> dict[str, Any]:
    """Won deals with calls, lost deals without (the signal), open deals of two reps: ``hot``
    (3 calls) and ``cold`` (none) of ``rep``, ``other_hot`` of ``other``."""
    stage = records.entity("stages").model
    stages = list(session.scalars(select(stage)))
    won = next(s for s in stages if s.is_won)
    lost = next(s for s in stages if s.is_lost)
    open_ = next(s for s in stages if not s.is_won and not s.is_lost)
    rep, other = make_user("sales_rep"), make_user("sales_rep")

    def deal(title: str, stage_id: int, calls: int, owner: Any = rep) -> Any:
        made = records.create(
            "deals",
            {"title": title, "amount": "1000", "currency": "EUR", "stage_id": stage_id,
             "pipeline_id": won.pipeline_id, "owner_id": owner.id},
        )  # fmt: skip
        for _ in range(calls):
            _call(records, "deal", made.id)
        return made

    for i in range(MIN_PER_CLASS + 4):
        deal(f"Won {i}", won.id, 2 + i % 2)
        deal(f"Lost {i}", lost.id, i % 4 // 3)
    return {
        "rep": rep,
        "other": other,
        "won": won,
        "lost": lost,
        "hot": deal("Hot", open_.id, 3),
        "cold": deal("Cold", open_.id, 0),
        "other_hot": deal("Other hot", open_.id, 3, other),
        "closed": deal("Closed", won.id, 3),
    }


def _field(session: Any, record: Any, name: str = DEAL.field) -> Any:
    session.refresh(record)
    return (record.custom_fields or {}).get(name)


def _audit_rows(session: Any) -> int:
    from crmcore.audit import AuditEntry

    return int(session.scalar(select(func.count()).select_from(AuditEntry)) or 0)


def test_percent_is_a_whole_number_within_bounds() -> None:
    assert [percent(p) for p in (0.0, 0.004, 0.705, 0.999, 1.0)] == [0, 0, 70, 100, 100]


def test_scores_filled_after_training_and_written_once(
    crm: Any, session: Any, records: Any, pipeline: dict[str, Any]
) -> None:
    written = train_and_store(crm, session)
    # the open deals are scored; the closed deals keep no score
    assert written == {DEAL.name: 3, LEAD.name: 0, propensity.NAME: 0, churn.NAME: 0}
    hot, cold = _field(session, pipeline["hot"]), _field(session, pipeline["cold"])
    assert isinstance(hot, int) and isinstance(cold, int)
    assert 70 <= hot <= 100 and 0 <= cold < 30
    assert _field(session, pipeline["closed"]) is None
    # nothing changed: no write, no audit row
    audits = _audit_rows(session)
    nothing = {DEAL.name: 0, LEAD.name: 0, propensity.NAME: 0, churn.NAME: 0}
    assert train_and_store(crm, session) == nothing
    assert _audit_rows(session) == audits
    # one more call on the cold deal moves only its score
    _call(records, "deal", pipeline["cold"].id)
    model = train(crm, session, DEAL)
    session.commit()
    assert sync_scores(crm, session, DEAL, model) == 1
    assert _field(session, pipeline["cold"]) > cold
    # a deal that closes loses its score at the next run
    records.update("deals", pipeline["hot"], {"stage_id": pipeline["won"].id})
    assert train_and_store(crm, session)[DEAL.name] == 1
    assert _field(session, pipeline["hot"]) is None


def test_nightly_job_stores_the_scores(app: Any, crm: Any, pipeline: dict[str, Any]) -> None:
    train_models(app)
    assert _field(crm.session, pipeline["other_hot"]) >= 70


def test_filter_by_score_in_scope(
    crm: Any, session: Any, api_as: Any, admin: Any, pipeline: dict[str, Any]
) -> None:
    train_and_store(crm, session)
    hot, other_hot = pipeline["hot"].id, pipeline["other_hot"].id
    found = api_as(admin).get("/api/v1/deals?custom.win_probability__gte=70&sort=id")
    assert found.status_code == 200
    assert [d["id"] for d in found.get_json()["data"]] == [hot, other_hot]
    assert found.get_json()["data"][0]["custom_fields"]["win_probability"] >= 70
    # a rep sees only their own deals
    rep = api_as(pipeline["rep"])
    found = rep.get("/api/v1/deals?custom.win_probability__gte=70").get_json()["data"]
    assert [d["id"] for d in found] == [hot]
    found = rep.get("/api/v1/deals?custom.win_probability__lt=30").get_json()["data"]
    assert [d["id"] for d in found] == [pipeline["cold"].id]
    # bad input is refused with a clear error, not a 500
    for bad in ("custom.win_probability__gte=high", "custom.win_probability__contains=7"):
        response = rep.get(f"/api/v1/deals?{bad}")
        assert response.status_code == 400, bad
        assert "custom.win_probability" in str(response.get_json())


def test_list_page_filter(crm: Any, session: Any, pipeline: dict[str, Any], web_as: Any) -> None:
    train_and_store(crm, session)
    page = web_as(pipeline["rep"]).get("/deals?custom.win_probability__gte=70")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Hot" in text and "Cold" not in text and "Other hot" not in text


def test_too_little_data_clears_the_scores(
    crm: Any, session: Any, records: Any, pipeline: dict[str, Any]
) -> None:
    train_and_store(crm, session)
    assert _field(session, pipeline["hot"]) is not None
    deal_model = records.entity("deals").model
    lost = session.scalars(
        select(deal_model).where(deal_model.stage_id == pipeline["lost"].id)
    ).all()
    for deal in lost[: len(lost) - MIN_PER_CLASS + 1]:
        records.delete("deals", deal)
    written = train_and_store(crm, session)
    assert written[DEAL.name] == 3
    assert [_field(session, pipeline[k]) for k in ("hot", "cold", "other_hot")] == [None] * 3
    assert train_and_store(crm, session)[DEAL.name] == 0


def test_lead_conversion_scores(
    crm: Any, session: Any, records: Any, api_as: Any, make_user: Any
) -> None:
    rep = make_user("sales_rep")

    def lead(status: str, phone: str | None, calls: int) -> Any:
        made = records.create(
            "leads",
            {"first_name": "L", "last_name": status, "phone": phone, "status": status,
             "owner_id": rep.id},
        )  # fmt: skip
        for _ in range(calls):
            _call(records, "lead", made.id)
        return made

    for i in range(MIN_PER_CLASS + 4):
        lead("unqualified", None if i % 3 else "+34600000000", i % 5 // 4)
    converted = [lead("qualified", "+34600000000", 2 + i % 2) for i in range(MIN_PER_CLASS + 4)]
    model = records.entity("leads").model
    session.execute(
        model.__table__.update()
        .where(model.id.in_([c.id for c in converted]))
        .values(status="converted")
    )
    session.commit()
    session.expire_all()  # the bulk update bypassed the loaded leads
    fresh, quiet = lead("new", "+34600000000", 3), lead("new", None, 0)
    assert train_and_store(crm, session)[LEAD.name] == 2
    assert _field(session, fresh, LEAD.field) >= 70
    assert _field(session, quiet, LEAD.field) < 30
    assert _field(session, converted[0], LEAD.field) is None
    found = api_as(rep).get("/api/v1/leads?custom.conversion_probability__gte=70").get_json()
    assert [r["id"] for r in found["data"]] == [fresh.id]


def test_fields_labelled_in_spanish(
    crm: Any, session: Any, pipeline: dict[str, Any], web_as: Any, make_user: Any
) -> None:
    train_and_store(crm, session)
    client = web_as(make_user("admin", locale="es"))
    page = client.get(f"/deals/{pipeline['hot'].id}/edit").get_data(as_text=True)
    assert "Probabilidad de ganar" in page and "Win probability" not in page
    page = client.get("/leads/new").get_data(as_text=True)
    assert "Probabilidad de conversión" in page and "Conversion probability" not in page


def test_report_counts_by_score_in_scope(
    crm: Any, session: Any, api_as: Any, admin: Any, pipeline: dict[str, Any]
) -> None:
    train_and_store(crm, session)
    definition = {
        "entity": "deals",
        "measures": ["count"],
        "filters": {"custom.win_probability__gte": "70"},
    }
    for user, count in ((admin, 2), (pipeline["rep"], 1)):
        response = api_as(user).post("/api/v1/reports/run", json=definition)
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["rows"][0]["count"] == count
    definition["filters"] = {"custom.win_probability__gte": "high"}
    response = api_as(admin).post("/api/v1/reports/run", json=definition)
    assert response.status_code in (400, 422)
    assert "custom.win_probability" in str(response.get_json())


def _order(records: Any, contact: Any, day: str, **fields: Any) -> Any:
    line = {"description": "Item", "quantity": "1", "unit_price": "100", "tax_rate": "0"}
    data = {"contact_id": contact.id, "status": "paid", "order_date": day, "lines": [line],
            "currency": "EUR", "owner_id": contact.owner_id, **fields}  # fmt: skip
    return records.create("orders", data)


def test_a_refused_record_is_skipped_not_the_run(
    crm: Any, session: Any, records: Any, make_contact: Any, pipeline: dict[str, Any]
) -> None:
    """An instance field made required after the records existed: those records are refused
    by the record service; the run goes on with the others."""
    from crmcore.customfields import CustomField

    contact = make_contact(first_name="Y")
    for day in ("2026-01-01", "2026-02-01"):
        _order(records, contact, day)
    for entity in ("deals", "contacts"):
        session.add(CustomField(entity=entity, name="region", label="Region", type="text",
                                required=True))  # fmt: skip
    session.commit()
    records.update("deals", pipeline["hot"], {"custom_fields": {"region": "North"}})
    assert train_and_store(crm, session)[DEAL.name] == 1
    assert _field(session, pipeline["hot"]) >= 70
    assert _field(session, pipeline["cold"]) is None
    assert store_scores(crm, session, churn.FIELD, {contact.id: 40}) == 0
    records.update("contacts", contact, {"custom_fields": {"region": "South"}})
    assert store_scores(crm, session, churn.FIELD, {contact.id: 40}) == 1
