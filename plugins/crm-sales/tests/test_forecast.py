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
        "quota": None,
        "attainment": None,
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


def test_forecast_filters_by_pipeline_and_team(api, api_as, records, deals, other_pipeline):
    _rep, other = deals
    renewal = records.create(
        "deals",
        {
            "title": "renewal",
            "amount": "400.00",
            "stage_id": other_pipeline.id,
            "close_date": "2027-01-20",
            "owner_id": other.id,
        },
    )
    pipeline = other_pipeline.pipeline_id
    only = api.get(f"/api/v1/forecast?pipeline_id={pipeline}").get_json()
    assert only["pipeline_id"] == pipeline
    assert only["totals"]["pipeline"] == "400.00"  # the default pipeline's deals are left out
    assert [p["period"] for p in only["periods"]] == ["2027-01"]
    everything = api.get("/api/v1/forecast").get_json()
    assert everything["totals"]["pipeline"] == "6450.00"
    team = records.create("teams", {"name": "North"})
    from crmcore.users.models import team_member

    records.session.execute(team_member.insert().values(team_id=team.id, user_id=other.id))
    records.session.commit()
    north = api.get(f"/api/v1/forecast?team_id={team.id}").get_json()
    assert north["totals"]["pipeline"] == "3400.00" and north["team_id"] == team.id
    assert renewal.owner_id == other.id


@pytest.mark.parametrize(
    "query, field",
    [
        ("pipeline_id=999999", "pipeline_id"),
        ("pipeline_id=x", "pipeline_id"),
        ("team_id=0", "team_id"),
    ],
)
def test_forecast_refuses_unknown_filters(api, query, field):
    response = api.get(f"/api/v1/forecast?{query}")
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["errors"]


def test_quotas_give_attainment_and_only_managers_set_them(api, api_as, make_user, deals):
    rep, other = deals
    created = api.post(
        "/api/v1/quotas", json={"period": "2027-02", "amount": "1000.00", "owner_id": rep.id}
    )
    assert created.status_code == 201, created.get_json()
    api.post(
        "/api/v1/quotas", json={"period": "2027-Q2", "amount": "6000.00", "owner_id": other.id}
    )
    month = api.get(f"/api/v1/forecast?owner={rep.id}").get_json()
    feb = next(p for p in month["periods"] if p["period"] == "2027-02")
    assert (feb["quota"], feb["attainment"]) == ("1000.00", "50.0")  # won 500 of 1000
    quarter = api.get("/api/v1/forecast?period=quarter").get_json()
    by = {p["period"]: p for p in quarter["periods"]}
    assert by["2027-Q1"]["quota"] == "1000.00"  # the monthly quota counts in its quarter
    assert by["2027-Q2"]["quota"] == "6000.00" and by["2027-Q2"]["attainment"] == "0.0"
    # a rep sees their own quota, cannot set one, and never sees the other rep's
    assert (
        api_as(rep).post("/api/v1/quotas", json={"period": "2027-03", "amount": "1"}).status_code
        == 403
    )
    rep_quarter = api_as(rep).get("/api/v1/forecast?period=quarter").get_json()
    assert {p["period"]: p["quota"] for p in rep_quarter["periods"]}.get("2027-Q2") is None
    manager = make_user("manager")
    bad = api_as(manager).post("/api/v1/quotas", json={"period": "2027-13", "amount": "-5"})
    assert bad.status_code == 422 and set(bad.get_json()["errors"]) == {"period", "amount"}
    assert (
        api_as(manager)
        .post("/api/v1/quotas", json={"period": "2027-Q4", "amount": "10.00", "owner_id": rep.id})
        .status_code
        == 201
    )


def test_forecast_page_applies_filters_and_reports_bad_ones(web_client, make_user, deals, stages):
    rep, other = deals
    manager = make_user("manager")
    client = web_client(manager)
    page = client.get("/sales/forecast?period=quarter")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'data-period="2027-Q1"' in html and 'data-period="2027-Q2"' in html
    pipeline = stages["Won"].pipeline_id
    mine = client.get(f"/sales/forecast?owner_id={rep.id}&pipeline_id={pipeline}").get_data(
        as_text=True
    )
    assert 'data-period="2027-Q2"' not in mine and 'data-period="2027-01"' in mine
    bad = client.get("/sales/forecast?period=week&owner_id=abc")
    assert bad.status_code == 422
    text = bad.get_data(as_text=True)
    assert 'id="f-period-error"' in text and 'id="f-owner_id-error"' in text
    rep_page = web_client(rep).get(f"/sales/forecast?owner_id={other.id}")
    assert rep_page.status_code == 200  # the other rep's deals are out of the rep's scope
    assert "No deals match these filters." in rep_page.get_data(as_text=True)


def test_one_quota_per_owner_and_period(api, make_user, records, session, web_client, csrf_of):
    rep = make_user("sales_rep")
    body = {"period": "2027-05", "amount": "100.00", "owner_id": rep.id}
    first = api.post("/api/v1/quotas", json=body)
    assert first.status_code == 201
    again = api.post("/api/v1/quotas", json={**body, "amount": "200.00"})
    assert again.status_code == 422
    assert again.get_json()["errors"] == {
        "period": ["This owner has a quota for this period already."]
    }
    other = api.post("/api/v1/quotas", json={**body, "period": "2027-06"})
    assert other.status_code == 201
    moved = api.patch(f"/api/v1/quotas/{other.get_json()['id']}", json={"period": "2027-05"})
    assert moved.status_code == 422 and "period" in moved.get_json()["errors"]
    # a trashed quota leaves room for a new one; restoring it then is a conflict
    assert api.delete(f"/api/v1/quotas/{first.get_json()['id']}").status_code == 204
    assert api.post("/api/v1/quotas", json=body).status_code == 201
    restored = api.post(f"/api/v1/quotas/{first.get_json()['id']}/restore")
    assert restored.status_code == 409
    # the database refuses what slips past the check (two writers at once)
    from crm_sales.models import Quota
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError):
        with session.begin_nested():
            session.add(Quota(period="2027-05", amount=1, owner_id=rep.id))
            session.flush()
    # the form says it on the period field and keeps what was typed
    client = web_client(make_user("manager"))
    token = csrf_of(client.get("/quotas/new").get_data(as_text=True))
    typed = {"period": "2027-05", "amount": "321.00", "owner_id": rep.id, "csrf_token": token}
    page = client.post("/quotas/new", data=typed)
    html = page.get_data(as_text=True)
    assert page.status_code == 422
    assert "f-period-errors" in html.replace("'", '"') or "period-error" in html
    assert "This owner has a quota for this period already." in html and "321.00" in html
