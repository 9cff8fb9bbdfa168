"""Pipelines, stages and deals: defaults, the pipeline rule, stage history, the board."""

from __future__ import annotations

import datetime as dt

import pytest
from crm_sales.models import StageChange
from sqlalchemy import update

pytestmark = pytest.mark.crm_plugins("sales")


def test_default_pipeline_has_ordered_stages(api):
    pipelines = api.get("/api/v1/pipelines").get_json()["data"]
    assert [p["name"] for p in pipelines] == ["Sales"]
    stages = api.get(f"/api/v1/stages?pipeline_id={pipelines[0]['id']}&sort=position")
    rows = stages.get_json()["data"]
    assert [s["name"] for s in rows] == [
        "Prospecting",
        "Qualification",
        "Proposal",
        "Negotiation",
        "Won",
        "Lost",
    ]
    assert [(s["probability"], s["is_won"], s["is_lost"]) for s in rows[-2:]] == [
        (100, True, False),
        (0, False, True),
    ]


def test_deal_defaults_from_stage_and_instance(api, stages):
    response = api.post("/api/v1/deals", json={"title": "Big one", "amount": "1200.50"})
    assert response.status_code == 201, response.get_json()
    deal = response.get_json()
    assert (deal["amount"], deal["currency"], deal["stage_id"], deal["probability"]) == (
        "1200.50",
        "EUR",
        stages["Prospecting"].id,
        10,
    )
    moved = api.patch(f"/api/v1/deals/{deal['id']}", json={"stage_id": stages["Proposal"].id})
    assert moved.get_json()["probability"] == 50
    kept = api.patch(
        f"/api/v1/deals/{deal['id']}",
        json={"stage_id": stages["Negotiation"].id, "probability": 90},
    )
    assert kept.get_json()["probability"] == 90


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": "X", "amount": "-1"}, "amount"),
        ({"title": "X", "amount": "1.005"}, "amount"),
        ({"title": "X", "amount": "NaN"}, "amount"),
        ({"title": "X", "currency": "EURO"}, "currency"),
        ({"title": "X", "currency": "XYZ"}, "currency"),
        ({"title": "X", "probability": 101}, "probability"),
        ({"title": "X", "stage_id": 999999}, "stage_id"),
        ({"title": "X", "contact_id": 999999}, "contact_id"),
        ({"amount": "5"}, "title"),
    ],
)
def test_bad_deals_are_refused(api, body, field):
    response = api.post("/api/v1/deals", json=body)
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["errors"]


def test_a_stage_of_another_pipeline_is_refused(api, stages, other_pipeline):
    deal = api.post("/api/v1/deals", json={"title": "Stay"}).get_json()
    response = api.patch(f"/api/v1/deals/{deal['id']}", json={"stage_id": other_pipeline.id})
    assert response.status_code == 422
    assert response.get_json()["errors"]["stage_id"] == ["This stage belongs to another pipeline."]
    assert api.get(f"/api/v1/deals/{deal['id']}").get_json()["stage_id"] == (
        stages["Prospecting"].id
    )
    mixed = api.post(
        "/api/v1/deals",
        json={
            "title": "Mixed",
            "pipeline_id": stages["Won"].pipeline_id,
            "stage_id": other_pipeline.id,
        },
    )
    assert mixed.status_code == 422
    alone = api.patch(
        f"/api/v1/deals/{deal['id']}", json={"pipeline_id": other_pipeline.pipeline_id}
    )
    assert alone.status_code == 422


def test_stage_history_and_time_in_stage(api, stages, session):
    deal = api.post("/api/v1/deals", json={"title": "Track"}).get_json()
    two_hours_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    session.execute(
        update(StageChange)
        .where(StageChange.deal_id == deal["id"])
        .values(entered_at=two_hours_ago)
    )
    session.commit()
    api.patch(f"/api/v1/deals/{deal['id']}", json={"stage_id": stages["Proposal"].id})
    api.patch(f"/api/v1/deals/{deal['id']}", json={"title": "Renamed"})
    history = api.get(f"/api/v1/deals/{deal['id']}/stages").get_json()["data"]
    assert [h["stage"] for h in history] == ["Prospecting", "Proposal"]
    assert 7190 <= history[0]["seconds_in_stage"] <= 7300
    assert history[0]["left_at"] is not None and history[1]["left_at"] is None
    assert history[1]["seconds_in_stage"] < 60


def test_stage_rules(api, stages, other_pipeline):
    both = api.post(
        "/api/v1/stages",
        json={
            "pipeline_id": other_pipeline.pipeline_id,
            "name": "?",
            "is_won": True,
            "is_lost": True,
        },
    )
    assert both.status_code == 422
    move = api.patch(
        f"/api/v1/stages/{other_pipeline.id}", json={"pipeline_id": stages["Won"].pipeline_id}
    )
    assert move.status_code == 422


def test_sales_rep_sees_and_moves_only_own_deals(api_as, make_user, records, stages):
    rep, other = make_user("sales_rep"), make_user("sales_rep")
    theirs = records.create("deals", {"title": "Theirs", "owner_id": other.id})
    client = api_as(rep)
    mine = client.post("/api/v1/deals", json={"title": "Mine"}).get_json()
    assert [d["title"] for d in client.get("/api/v1/deals").get_json()["data"]] == ["Mine"]
    assert client.get(f"/api/v1/deals/{theirs.id}").status_code == 404
    assert client.get(f"/api/v1/deals/{theirs.id}/stages").status_code == 404
    assert client.patch(f"/api/v1/deals/{theirs.id}", json={"title": "x"}).status_code == 404
    assert client.get("/api/v1/pipelines").status_code == 200
    assert client.post("/api/v1/pipelines", json={"name": "Mine"}).status_code == 403
    assert client.get(f"/api/v1/deals/{mine['id']}").status_code == 200


# the board ----------------------------------------------------------------------------------------


def test_board_shows_deals_in_stage_columns(app, web_client, csrf_of, admin, records, stages):
    records.create("deals", {"title": "Alpha <b>", "stage_id": stages["Proposal"].id})
    client = web_client(admin)
    first = client.get("/sales/board")
    assert first.status_code == 302
    html = client.get(first.headers["Location"]).get_data(as_text=True)
    proposal = html.index(f'data-stage-id="{stages["Proposal"].id}"')
    negotiation = html.index(f'data-stage-id="{stages["Negotiation"].id}"')
    assert proposal < html.index("Alpha &lt;b&gt;") < negotiation
    assert "<b>" not in html.split("<main", 1)[1]
    assert 'draggable="true"' in html and "board.js" in html


def test_keyboard_move_with_the_form(app, web_client, csrf_of, admin, records, stages):
    deal = records.create("deals", {"title": "Keys"})
    client = web_client(admin)
    page = client.get(f"/sales/board/{stages['Won'].pipeline_id}").get_data(as_text=True)
    response = client.post(
        f"/sales/deals/{deal.id}/stage",
        data={"stage_id": stages["Negotiation"].id, "csrf_token": csrf_of(page)},
    )
    assert response.status_code == 303
    assert records.get("deals", deal.id).stage_id == stages["Negotiation"].id


def test_drag_and_drop_endpoint(app, web_client, csrf_of, admin, records, stages, other_pipeline):
    deal = records.create("deals", {"title": "Drag"})
    client = web_client(admin)
    token = csrf_of(client.get(f"/sales/board/{deal.pipeline_id}").get_data(as_text=True))
    url = f"/sales/deals/{deal.id}/stage"
    ok = client.patch(url, json={"stage_id": stages["Won"].id}, headers={"X-CSRFToken": token})
    assert ok.status_code == 200
    assert ok.get_json() == {"id": deal.id, "stage_id": stages["Won"].id, "probability": 100}
    wrong = client.patch(url, json={"stage_id": other_pipeline.id}, headers={"X-CSRFToken": token})
    assert wrong.status_code == 422
    assert client.patch(url, json={"stage_id": stages["Lost"].id}).status_code == 400


def test_board_move_is_permission_checked(app, web_client, csrf_of, make_user, records, stages):
    rep, other = make_user("sales_rep"), make_user("sales_rep")
    theirs = records.create("deals", {"title": "Not yours", "owner_id": other.id})
    records.create("deals", {"title": "Yours", "owner_id": rep.id})
    client = web_client(rep)
    page = client.get(f"/sales/board/{theirs.pipeline_id}").get_data(as_text=True)
    assert "Yours" in page and "Not yours" not in page
    response = client.patch(
        f"/sales/deals/{theirs.id}/stage",
        json={"stage_id": stages["Won"].id},
        headers={"X-CSRFToken": csrf_of(page)},
    )
    assert response.status_code == 404
    assert records.get("deals", theirs.id).stage_id == stages["Prospecting"].id
    read_only = web_client(make_user("read_only"))
    ro_page = read_only.get(f"/sales/board/{theirs.pipeline_id}").get_data(as_text=True)
    assert "Not yours" in ro_page and 'draggable="true"' not in ro_page
    denied = read_only.patch(
        f"/sales/deals/{theirs.id}/stage",
        json={"stage_id": stages["Won"].id},
        headers={"X-CSRFToken": csrf_of(ro_page)},
    )
    assert denied.status_code == 403
