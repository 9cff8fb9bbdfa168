"""The forecast: figures per period, currencies, owner filter and permission scope."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.crm_plugins("sales")


@pytest.fixture
def deals(records, stages, make_user):
    rep, other = make_user("sales_rep"), make_user("sales_rep")

    def deal(title, amount, stage, close, owner, **extra):
        return records.create(
            "deals",
            {
                "title": title,
                "amount": amount,
                "stage_id": stages[stage].id,
                "close_date": close,
                "owner_id": owner.id,
                **extra,
            },
        )

    deal("a", "1000.00", "Prospecting", "2027-01-15", rep)  # 10 %
    deal("b", "2000.00", "Negotiation", "2027-02-10", rep, probability=90)
    deal("c", "500.00", "Won", "2027-02-20", rep)
    deal("d", "700.00", "Lost", "2027-02-21", rep)
    deal("e", "3000.00", "Proposal", "2027-04-01", other)  # 50 %
    deal("f", "100.00", "Proposal", "2027-04-02", other, currency="USD")
    deal("g", "50.00", "Proposal", None, rep)
    return rep, other


def test_forecast_by_month(api, deals):
    response = api.get("/api/v1/forecast?period=month")
    assert response.status_code == 200
    data = response.get_json()
    assert data["currency"] == "EUR"
    by = {p["period"]: p for p in data["periods"]}
    assert list(by) == ["2027-01", "2027-02", "2027-04", "undated"]
    assert by["2027-01"] | {} == {
        "period": "2027-01",
        "deals": 1,
        "pipeline": "1000.00",
        "weighted": "100.00",
        "committed": "0.00",
        "best_case": "0.00",
        "won": "0.00",
    }
    assert (
        by["2027-02"]["pipeline"],
        by["2027-02"]["weighted"],
        by["2027-02"]["committed"],
        by["2027-02"]["best_case"],
        by["2027-02"]["won"],
    ) == ("2000.00", "1800.00", "2500.00", "2500.00", "500.00")
    assert by["2027-04"]["best_case"] == "3000.00" and by["2027-04"]["weighted"] == "1500.00"
    assert data["totals"]["pipeline"] == "6050.00"
    assert data["excluded"] == [{"currency": "USD", "deals": 1, "amount": "100.00"}]


def test_forecast_by_quarter_with_rates(api, crm, deals):
    crm.settings.extra["sales"] = {"rates": {"USD": "0.5"}}
    try:
        data = api.get("/api/v1/forecast?period=quarter").get_json()
    finally:
        crm.settings.extra.pop("sales")
    by = {p["period"]: p for p in data["periods"]}
    assert list(by) == ["2027-Q1", "2027-Q2", "undated"]
    assert by["2027-Q1"]["won"] == "500.00"
    assert by["2027-Q2"]["pipeline"] == "3050.00"
    assert data["excluded"] == []


def test_forecast_of_one_owner_and_scope(api, api_as, deals):
    rep, other = deals
    mine = api.get(f"/api/v1/forecast?owner={other.id}").get_json()
    assert mine["totals"]["pipeline"] == "3000.00"
    rep_view = api_as(rep).get("/api/v1/forecast").get_json()
    assert rep_view["totals"]["pipeline"] == "3050.00"  # a, b, g: not the other rep's deals
    assert rep_view["excluded"] == []
    peek = api_as(rep).get(f"/api/v1/forecast?owner={other.id}").get_json()
    assert peek["periods"] == [] and peek["totals"]["pipeline"] == "0.00"
    me = api_as(rep).get("/api/v1/forecast?owner=me").get_json()
    assert me["totals"] == rep_view["totals"]


@pytest.mark.parametrize("query", ["period=week", "owner=abc", "owner=-1"])
def test_forecast_bad_parameters(api, query):
    response = api.get(f"/api/v1/forecast?{query}")
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"


def test_forecast_needs_deal_access(api_as, make_user):
    assert api_as(make_user("support_agent")).get("/api/v1/forecast").status_code == 403
