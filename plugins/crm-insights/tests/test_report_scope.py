"""Reports count only what their reader may read: per role, through joins, in saved reports
shared with a team or a role."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.crm_plugins("sales", "insights")
RUN = "/api/v1/reports/run"
BY_COMPANY = {
    "entity": "deals",
    "joins": ["company_id"],
    "group_by": ["company_id.name"],
    "measures": ["count", "sum:amount"],
}


@pytest.fixture
def world(make_user: Any, make_deal: Any, make_company: Any, records: Any) -> dict[str, Any]:
    """Two reps in one team, a rep outside it, their deals and companies."""
    rep = make_user("sales_rep", teams=("North",))
    mate = make_user("sales_rep", teams=("North",))
    stranger = make_user("sales_rep")
    mine = make_company(name="Mine Ltd", owner_id=rep.id)
    theirs = make_company(name="Theirs Ltd", owner_id=stranger.id)
    make_deal("R1", "10.00", owner_id=rep.id, company_id=mine.id)
    make_deal("R2", "20.00", owner_id=rep.id, company_id=theirs.id)  # a company rep may not read
    make_deal("M1", "40.00", owner_id=mate.id, company_id=mine.id)
    make_deal("S1", "80.00", owner_id=stranger.id, company_id=theirs.id)
    return {"rep": rep, "mate": mate, "stranger": stranger, "mine": mine, "theirs": theirs}


def test_a_rep_counts_only_their_deals(api_as: Any, world: dict[str, Any]) -> None:
    out = (
        api_as(world["rep"])
        .post(RUN, json={"entity": "deals", "measures": ["count", "sum:amount"]})
        .get_json()
    )
    assert (out["rows"][0]["count"], out["rows"][0]["sum:amount"]) == (2, "30.00")


def test_a_manager_counts_every_deal(make_user: Any, api_as: Any, world: dict[str, Any]) -> None:
    out = api_as(make_user("manager")).post(RUN, json=BY_COMPANY).get_json()
    got = {r["company_id.name"]: (r["count"], r["sum:amount"]) for r in out["rows"]}
    assert got == {"Mine Ltd": (2, "50.00"), "Theirs Ltd": (2, "100.00")}


def test_a_join_shows_nothing_of_records_the_reader_may_not_read(
    api_as: Any, world: dict[str, Any]
) -> None:
    out = api_as(world["rep"]).post(RUN, json=BY_COMPANY).get_json()
    got = {r["company_id.name"]: (r["count"], r["sum:amount"]) for r in out["rows"]}
    # R2's company belongs to someone else: the deal counts, the company's name stays hidden
    assert got == {None: (1, "20.00"), "Mine Ltd": (1, "10.00")}
    filtered = (
        api_as(world["rep"])
        .post(RUN, json={**BY_COMPANY, "filters": {"company_id.name__contains": "Theirs"}})
        .get_json()
    )
    assert filtered["rows"] == []


def test_a_reference_title_is_named_only_when_readable(api_as: Any, world: dict[str, Any]) -> None:
    out = (
        api_as(world["rep"])
        .post(RUN, json={"entity": "deals", "group_by": ["company_id"], "measures": ["count"]})
        .get_json()
    )
    names = {r["company_id"]: r["company_id_name"] for r in out["rows"]}
    assert names == {world["mine"].id: "Mine Ltd", world["theirs"].id: None}


def test_team_scope_counts_the_team(
    make_user: Any, api_as: Any, world: dict[str, Any], crm: Any, session: Any
) -> None:
    from crmcore.users.models import Role

    role = Role(
        name="team_lead",
        title="Team lead",
        grants={"deals": {"read": "team"}, "companies": {"read": "team"}},
        permissions=[],
    )
    session.add(role)
    session.commit()
    lead = make_user("team_lead", teams=("North",))
    out = api_as(lead).post(RUN, json=BY_COMPANY).get_json()
    got = {r["company_id.name"]: r["count"] for r in out["rows"]}
    assert got == {None: 1, "Mine Ltd": 2}


def test_an_entity_or_join_the_reader_may_not_read_is_refused(
    make_user: Any, api_as: Any, world: dict[str, Any], session: Any
) -> None:
    agent = api_as(make_user("support_agent"))
    response = agent.post(RUN, json={"entity": "deals", "measures": ["count"]})
    assert response.status_code == 422
    assert "entity" in response.get_json()["errors"]
    from crmcore.users.models import Role

    session.add(
        Role(
            name="deals_only", title="Deals only", grants={"deals": {"read": "all"}}, permissions=[]
        )
    )
    session.commit()
    limited = api_as(make_user("deals_only"))
    response = limited.post(RUN, json=BY_COMPANY)
    assert response.status_code == 422
    assert response.get_json()["errors"] == {
        "joins.0": ["You may not read the records this join reaches."]
    }


def test_saved_report_runs_with_the_readers_rights(
    api_as: Any, world: dict[str, Any], make_user: Any
) -> None:
    rep = api_as(world["rep"])
    created = rep.post(
        "/api/v1/reports",
        json={"name": "By company", "definition": BY_COMPANY, "visibility": "private"},
    )
    assert created.status_code == 201, created.get_json()
    report = created.get_json()
    assert report["definition"]["group_by"] == [{"field": "company_id.name"}]
    url = f"/api/v1/reports/{report['id']}/run"
    assert rep.post(url).status_code == 200
    # private: a teammate and a stranger do not see it
    assert api_as(world["mate"]).post(url).status_code == 404
    assert api_as(world["stranger"]).post(url).status_code == 404
    # a manager reads every report, and runs it with their own rights
    out = api_as(make_user("manager")).post(url).get_json()
    assert sum(r["count"] for r in out["rows"]) == 4


def test_report_shared_with_a_team(api_as: Any, world: dict[str, Any], crm: Any) -> None:
    from crmcore.users.models import Team
    from sqlalchemy import select

    north = crm.session.scalar(select(Team).where(Team.name == "North"))
    rep = api_as(world["rep"])
    report = rep.post(
        "/api/v1/reports",
        json={
            "name": "Team deals",
            "definition": {"entity": "deals", "measures": ["count"]},
            "visibility": "team",
            "team_id": north.id,
        },
    ).get_json()
    url = f"/api/v1/reports/{report['id']}/run"
    # the teammate runs it and sees their own deals only
    assert api_as(world["mate"]).post(url).get_json()["rows"][0]["count"] == 1
    assert api_as(world["stranger"]).post(url).status_code == 404


def test_report_shared_with_a_role(
    api_as: Any, make_user: Any, world: dict[str, Any], session: Any
) -> None:
    from crmcore.users.models import Role
    from sqlalchemy import select

    reps = session.scalar(select(Role).where(Role.name == "sales_rep"))
    manager = api_as(make_user("manager"))
    report = manager.post(
        "/api/v1/reports",
        json={
            "name": "Everyone's deals",
            "definition": {"entity": "deals", "measures": ["count"]},
            "visibility": "role",
            "role_id": reps.id,
        },
    ).get_json()
    url = f"/api/v1/reports/{report['id']}/run"
    assert api_as(world["stranger"]).post(url).get_json()["rows"][0]["count"] == 1
    assert api_as(make_user("support_agent")).post(url).status_code == 404


def test_saving_refuses_what_the_writer_may_not_read(
    api_as: Any, make_user: Any, session: Any
) -> None:
    from crmcore.users.models import Role

    session.add(
        Role(
            name="deals_writer",
            title="Deals writer",
            grants={"deals": {"read": "all"}, "reports": {"read": "own", "create": "own"}},
            permissions=[],
        )
    )
    session.commit()
    client = api_as(make_user("deals_writer"))
    response = client.post("/api/v1/reports", json={"name": "x", "definition": BY_COMPANY})
    assert response.status_code == 422
    assert list(response.get_json()["errors"]) == ["definition.joins.0"]
    response = client.post(
        "/api/v1/reports",
        json={"name": "x", "definition": {"entity": "deals"}, "visibility": "team"},
    )
    assert response.status_code == 422
    assert list(response.get_json()["errors"]) == ["team_id"]


def test_the_reports_page_lists_own_and_shared_reports(
    api_as: Any, web_as: Any, world: dict[str, Any], crm: Any
) -> None:
    from crmcore.users.models import Team
    from sqlalchemy import select

    north = crm.session.scalar(select(Team).where(Team.name == "North"))
    rep = api_as(world["rep"])
    definition = {"entity": "deals", "measures": ["count"]}
    rep.post("/api/v1/reports", json={"name": "Private one", "definition": definition})
    rep.post(
        "/api/v1/reports",
        json={
            "name": "Team one",
            "definition": definition,
            "visibility": "team",
            "team_id": north.id,
        },
    )
    mine = web_as(world["rep"]).get("/insights/reports").get_data(as_text=True)
    assert "Private one" in mine and "Team one" in mine
    mate = web_as(world["mate"]).get("/insights/reports").get_data(as_text=True)
    assert "Team one" in mate and "Private one" not in mate
    stranger = web_as(world["stranger"]).get("/insights/reports").get_data(as_text=True)
    assert "Team one" not in stranger and "Private one" not in stranger
