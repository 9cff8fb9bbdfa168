"""Reports over a third-party plugin's entity (the ``donations`` test plugin beside this file):
groups, date buckets, measures and a join to contacts, inside each reader's scope, with bad
input refused naming the part - the builder knows the entity only from the registry."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

pytestmark = pytest.mark.crm_plugins("insights", "donations")
RUN = "/api/v1/reports/run"


@pytest.fixture(scope="module")
def crm_extra_plugins() -> list[str | ModuleType]:
    """The third-party test plugin, loaded from its file like an installed plugin's module."""
    path = Path(__file__).with_name("insights_thirdparty.py")
    spec = importlib.util.spec_from_file_location("insights_thirdparty", path)
    assert spec is not None and spec.loader is not None
    module = sys.modules.get(spec.name)
    if module is None:  # once per process: its model joins the one SQLAlchemy registry
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # SQLAlchemy reads the annotations from it
        spec.loader.exec_module(module)
    return [module]


@pytest.fixture
def world(records: Any, make_user: Any, make_contact: Any) -> dict[str, Any]:
    """Two reps; the first one's donations, one of them on the other rep's contact."""
    rep, other = make_user("sales_rep"), make_user("sales_rep")
    ana = make_contact(first_name="Ana", last_name="Mine", owner_id=rep.id)
    bob = make_contact(first_name="Bob", last_name="Theirs", owner_id=other.id)
    for title, amount, status, due, owner, contact in (
        ("D1", "10.00", "promised", "2026-01-10", rep, ana),
        ("D2", "20.00", "paid", "2026-01-20", rep, bob),  # a contact the rep may not read
        ("D3", "40.00", "paid", "2026-02-05", rep, ana),
        ("D4", "80.00", "paid", "2026-02-07", other, bob),
    ):
        records.create(
            "donations",
            {"title": title, "amount": amount, "status": status, "due_on": due,
             "owner_id": owner.id, "contact_id": contact.id},
        )  # fmt: skip
    return {"rep": rep, "other": other}


def rows(client: Any, **definition: Any) -> list[dict[str, Any]]:
    response = client.post(RUN, json={"entity": "donations", **definition})
    assert response.status_code == 200, response.get_json()
    return list(response.get_json()["rows"])


def test_groups_buckets_and_measures(api: Any, world: dict[str, Any]) -> None:
    got = rows(api, group_by=["due_on:month", "status"], measures=["count", "sum:amount"])
    assert [(r["due_on:month"], r["status"], r["count"], r["sum:amount"]) for r in got] == [
        ("2026-01-01", "paid", 1, "20.00"),
        ("2026-01-01", "promised", 1, "10.00"),
        ("2026-02-01", "paid", 2, "120.00"),
    ]
    [total] = rows(api, measures=["avg:amount", "max:amount", "count_distinct:contact_id"])
    assert (total["avg:amount"], total["max:amount"]) == ("37.50", "80.00")
    assert total["count_distinct:contact_id"] == 2


def test_a_rep_counts_their_donations_and_a_join_hides_what_they_may_not_read(
    api_as: Any, world: dict[str, Any]
) -> None:
    rep = api_as(world["rep"])
    [total] = rows(rep, measures=["count", "sum:amount"])
    assert (total["count"], total["sum:amount"]) == (3, "70.00")  # not the other rep's D4
    got = rows(
        rep, joins=["contact_id"], group_by=["contact_id.last_name"], measures=["sum:amount"]
    )
    assert {r["contact_id.last_name"]: r["sum:amount"] for r in got} == {
        "Mine": "50.00",
        None: "20.00",  # the donation counts; the other rep's contact stays unnamed
    }


@pytest.mark.parametrize(
    ("definition", "part"),
    [
        ({"group_by": ["colour"]}, "group_by.0.field"),
        ({"measures": ["sum:title"]}, "measures.0"),
        ({"group_by": ["title:month"]}, "group_by.0"),
        ({"joins": ["owner_id.nothing"]}, "joins.0"),
    ],
)
def test_bad_definitions_name_the_part(api: Any, definition: dict[str, Any], part: str) -> None:
    response = api.post(RUN, json={"entity": "donations", **definition})
    assert response.status_code == 422
    assert any(key.startswith(part) for key in response.get_json()["errors"]), response.get_json()


def test_a_support_agent_without_donations_is_refused(api_as: Any, make_user: Any) -> None:
    response = api_as(make_user("support_agent")).post(
        RUN, json={"entity": "donations", "measures": ["count"]}
    )
    assert response.status_code == 422
    assert "entity" in response.get_json()["errors"]
