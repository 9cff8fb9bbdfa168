"""Pinned reports' aggregates are stored per reader's scope, definition and date range, and
computed again as soon as a table they read changes."""

from __future__ import annotations

import re
from typing import Any

import pytest
from crmcore.permissions import Access
from sqlalchemy import select

from crm_insights import result_cache
from crm_insights.analysis.models import StoredResult
from crm_insights.reports.definition import parse_definition
from crm_insights.reports.runner import run_definition

pytestmark = pytest.mark.crm_plugins("sales", "insights")
BY_COMPANY = {
    "entity": "deals",
    "joins": ["company_id"],
    "group_by": ["company_id.name"],
    "measures": ["count", "sum:amount"],
}


@pytest.fixture
def world(
    crm: Any, make_user: Any, make_deal: Any, make_company: Any, records: Any
) -> dict[str, Any]:
    """Two reps in one team, a rep outside it, their deals and companies."""
    result_cache.clear(crm, crm.session)
    rep = make_user("sales_rep", teams=("North",))
    mate = make_user("sales_rep", teams=("North",))
    stranger = make_user("sales_rep")
    mine = make_company(name="Mine Ltd", owner_id=rep.id)
    theirs = make_company(name="Theirs Ltd", owner_id=stranger.id)
    deal = make_deal("R1", "10.00", owner_id=rep.id, company_id=mine.id)
    make_deal("R2", "20.00", owner_id=rep.id, company_id=theirs.id)
    make_deal("M1", "40.00", owner_id=mate.id, company_id=mine.id)
    make_deal("S1", "80.00", owner_id=stranger.id, company_id=theirs.id)
    return {"rep": rep, "mate": mate, "stranger": stranger, "mine": mine, "deal": deal}


def run(crm: Any, user: Any | None, raw: Any = BY_COMPANY, **filters: str) -> dict[Any, Any]:
    records = crm.records(Access.for_user(user) if user is not None else None)
    definition = parse_definition(records, raw)
    extra = {}
    if filters:
        from crmcore.api import listing
        from werkzeug.datastructures import MultiDict

        params = listing.parse(
            definition.entity, MultiDict(filters), crm.settings.secret_key, lambda: []
        )
        extra = {None: params}
    out = run_definition(records, definition, extra, cached=True)
    fresh = run_definition(records, definition, extra)
    assert out == fresh  # the stored aggregate gives what a fresh run gives
    return {r["company_id.name"]: (r["count"], r["sum:amount"]) for r in out["rows"]}


def computed(crm: Any) -> int:
    return result_cache.counts_of(crm).computed


def test_two_readers_never_share_an_entry(crm: Any, world: dict[str, Any]) -> None:
    rep, stranger = world["rep"], world["stranger"]
    assert run(crm, rep) == {None: (1, "20.00"), "Mine Ltd": (1, "10.00")}
    assert run(crm, stranger) == {"Theirs Ltd": (1, "80.00")}
    assert run(crm, None) == {"Mine Ltd": (2, "50.00"), "Theirs Ltd": (2, "100.00")}
    assert computed(crm) == 3
    keys = crm.session.scalars(select(StoredResult.key)).all()
    assert len(set(keys)) == 3
    # again: each from their own entry
    assert run(crm, stranger) == {"Theirs Ltd": (1, "80.00")}
    assert run(crm, rep) == {None: (1, "20.00"), "Mine Ltd": (1, "10.00")}
    assert computed(crm) == 3


def test_another_date_range_or_definition_is_another_entry(crm: Any, world: dict[str, Any]) -> None:
    rep = world["rep"]
    run(crm, rep)
    run(crm, rep, created_at__gte="2000-01-01", created_at__lt="2001-01-01")
    assert run(crm, rep, created_at__gte="2000-01-01", created_at__lt="2001-01-01") == {}
    assert computed(crm) == 2
    by_title = {**BY_COMPANY, "measures": ["count", "sum:amount", "max:amount"]}
    run(crm, rep, by_title)
    assert computed(crm) == 3


def test_an_edit_shows_at_once(crm: Any, records: Any, world: dict[str, Any]) -> None:
    rep = world["rep"]
    assert run(crm, rep) == {None: (1, "20.00"), "Mine Ltd": (1, "10.00")}
    records.update("deals", world["deal"], {"amount": "15.00"})
    assert run(crm, rep) == {None: (1, "20.00"), "Mine Ltd": (1, "15.00")}
    # a change to a joined table only (the company's name) shows too
    records.update("companies", world["mine"], {"name": "Mine plc"})
    assert run(crm, rep) == {None: (1, "20.00"), "Mine plc": (1, "15.00")}
    records.delete("deals", world["deal"])
    assert run(crm, rep) == {None: (1, "20.00")}
    assert computed(crm) == 4


def test_a_team_reader_sees_a_change_of_team_at_once(
    crm: Any, records: Any, make_user: Any, world: dict[str, Any]
) -> None:
    from crmcore.users.models import Team

    records.create(
        "roles",
        {"name": "team_seller", "title": "Team seller", "grants": {"deals": {"read": "team"}}},
    )
    lead = make_user("team_seller", teams=("South",))
    raw = {"entity": "deals", "measures": ["count", "sum:amount"]}

    def totals() -> list[Any]:
        records_of_lead = crm.records(Access.for_user(lead))
        definition = parse_definition(records_of_lead, raw)
        out = run_definition(records_of_lead, definition, {}, True)
        assert out == run_definition(records_of_lead, definition, {})
        return [(r["count"], r["sum:amount"]) for r in out["rows"] if r["count"]]

    assert totals() == []  # nobody in the team has deals
    south = crm.session.scalar(select(Team).where(Team.name == "South"))
    records.update("teams", south, {"member_ids": [lead.id, world["stranger"].id]})
    assert totals() == [(1, "80.00")]


def test_the_dashboard_of_each_reader(
    crm: Any, api_as: Any, web_as: Any, make_user: Any, world: dict[str, Any], records: Any
) -> None:
    from crmcore.users.models import Role

    manager = make_user("manager")
    role_id = crm.session.scalar(select(Role.id).where(Role.name == "sales_rep"))
    body = {
        "name": "Deals by company",
        "chart": "table",
        "pinned": True,
        "visibility": "role",
        "role_id": role_id,
        "definition": {"entity": "deals", "measures": ["count", "sum:amount"]},
    }
    created = api_as(manager).post("/api/v1/reports", json=body)
    assert created.status_code == 201, created.get_json()

    def shown(user: Any) -> list[str]:
        html = web_as(user).get("/").get_data(as_text=True)
        assert "Deals by company" in html
        return re.findall(r"\b\d+\.00\b", html)

    for _ in range(2):  # computed, then stored: each their own
        assert "30.00" in shown(world["rep"])
        assert "80.00" in shown(world["stranger"]) and "30.00" not in shown(world["stranger"])
    records.update("deals", world["deal"], {"amount": "11.00"})
    assert "31.00" in shown(world["rep"])
