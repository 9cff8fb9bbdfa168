"""The cohort page's table is computed once per reader's scope and stored in the database (for
every process) until the orders change; an entry is never shown to a reader with another
scope, and the nightly job computes the entries before the first view."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from crmcore.permissions import Access
from sqlalchemy import select, update

from crm_insights import result_cache
from crm_insights.analysis.cohort_cache import cached_cohorts, warm
from crm_insights.analysis.cohorts import cohorts
from crm_insights.analysis.models import StoredResult

pytestmark = pytest.mark.crm_plugins("sales", "insights")


def order(records: Any, contact: Any, day: str, owner: Any) -> Any:
    line = {"description": "Item", "quantity": "1", "unit_price": "10", "tax_rate": "0"}
    return records.create(
        "orders",
        {"contact_id": contact.id, "status": "paid", "order_date": day, "lines": [line],
         "currency": "EUR", "owner_id": owner.id},
    )  # fmt: skip


def table(found: Any) -> list[tuple[str, int, list[int]]]:
    return [(c.month, c.customers, c.active) for c in found]


@pytest.fixture
def two_reps(crm: Any, records: Any, make_user: Any, make_contact: Any) -> dict[str, Any]:
    """Two reps with customers of their own: ``one``'s first bought in January, ``two``'s in
    March and April."""
    result_cache.clear(crm, crm.session)
    one, two = make_user("sales_rep"), make_user("sales_rep")
    mine = make_contact(first_name="Mine", owner_id=one.id)
    order(records, mine, "2026-01-05", one)
    order(records, mine, "2026-02-05", one)
    for name, day in (("T1", "2026-03-03"), ("T2", "2026-04-04")):
        theirs = make_contact(first_name=name, owner_id=two.id)
        order(records, theirs, day, two)
    return {"one": one, "two": two, "mine": mine}


def test_each_rep_sees_their_own_cohorts_from_the_cache(crm: Any, two_reps: Any) -> None:
    one = crm.records(Access.for_user(two_reps["one"]))
    two = crm.records(Access.for_user(two_reps["two"]))
    cache = result_cache.counts_of(crm)
    expected_one = [("2026-01", 1, [1, 1])]
    expected_two = [("2026-03", 1, [1, 0]), ("2026-04", 1, [1])]
    assert table(cached_cohorts(one)) == expected_one == table(cohorts(one))
    assert table(cached_cohorts(two)) == expected_two == table(cohorts(two))
    assert cache.computed == 2
    # second views: from the cache, each still their own
    assert table(cached_cohorts(two)) == expected_two
    assert table(cached_cohorts(one)) == expected_one
    assert table(cached_cohorts(one, 1)) == [("2026-01", 1, [1])]  # other months, same entry
    assert cache.computed == 2
    # the administrator's scope is another entry, with everyone
    assert [c.month for c in cached_cohorts(crm.records())] == ["2026-01", "2026-03", "2026-04"]
    assert cache.computed == 3


def test_a_changed_order_computes_the_table_again(crm: Any, records: Any, two_reps: Any) -> None:
    one = crm.records(Access.for_user(two_reps["one"]))
    cache = result_cache.counts_of(crm)
    assert table(cached_cohorts(one)) == [("2026-01", 1, [1, 1])]
    new = order(records, two_reps["mine"], "2026-03-09", two_reps["one"])
    assert table(cached_cohorts(one)) == [("2026-01", 1, [1, 1, 1])]
    records.delete("orders", new)  # to the trash
    assert table(cached_cohorts(one)) == [("2026-01", 1, [1, 1])]
    assert cache.computed == 3


def test_an_old_entry_is_not_used(crm: Any, two_reps: Any, monkeypatch: Any) -> None:
    one = crm.records(Access.for_user(two_reps["one"]))
    cache = result_cache.counts_of(crm)
    cached_cohorts(one)
    monkeypatch.setattr(result_cache, "TTL", dt.timedelta(0))
    cached_cohorts(one)
    assert cache.computed == 2


def test_the_table_is_read_from_the_database(crm: Any, two_reps: Any) -> None:
    """What one process stored serves another: the rows come from the table, not memory."""
    one = crm.records(Access.for_user(two_reps["one"]))
    cached_cohorts(one)
    stored = crm.session.scalars(select(StoredResult)).all()
    assert [(s.kind, len(s.key)) for s in stored] == [("cohorts", 64)]
    assert "Mine" not in repr(stored[0].rows)  # aggregates only
    # another process's entry for the same scope and orders (here: a forged one)
    crm.session.execute(update(StoredResult).values(rows=[["2025-05", "2025-05", 7]]))
    assert table(cached_cohorts(one)) == [("2025-05", 7, [7])]
    # an entry whose fingerprint is not the orders' now is never used
    crm.session.execute(update(StoredResult).values(fingerprint="orders:0,None,None"))
    assert table(cached_cohorts(one)) == [("2026-01", 1, [1, 1])]
    assert result_cache.counts_of(crm).computed == 2


def test_the_nightly_job_computes_each_scope_before_the_first_view(crm: Any, two_reps: Any) -> None:
    old = StoredResult(
        key="0" * 64, kind="cohorts", fingerprint="", rows=[],
        computed_at=dt.datetime.now(dt.UTC) - result_cache.TTL - dt.timedelta(minutes=1),
    )  # fmt: skip
    crm.session.add(old)
    crm.session.flush()
    assert warm(crm) >= 2  # the two reps, and the administrators
    assert crm.session.get(StoredResult, "0" * 64) is None  # past its age: dropped
    cache = result_cache.counts_of(crm)
    computed = cache.computed
    one = crm.records(Access.for_user(two_reps["one"]))
    two = crm.records(Access.for_user(two_reps["two"]))
    assert table(cached_cohorts(one)) == [("2026-01", 1, [1, 1])]
    assert table(cached_cohorts(two)) == [("2026-03", 1, [1, 0]), ("2026-04", 1, [1])]
    assert len(cached_cohorts(crm.records()) or []) == 3
    assert cache.computed == computed  # every view read a stored table


def test_the_page_of_each_rep(web_as: Any, two_reps: Any) -> None:
    def months(user: Any) -> list[str]:
        page = web_as(user).get("/insights/customers/cohorts")
        assert page.status_code == 200
        return re.findall(r'<th scope="row">(\d{4}-\d\d)</th>', page.get_data(as_text=True))

    for _ in range(2):  # computed, then cached: the same for each
        assert months(two_reps["one"]) == ["2026-01"]
        assert months(two_reps["two"]) == ["2026-03", "2026-04"]


def test_a_team_reader_sees_a_change_of_team_at_once(
    crm: Any, records: Any, make_user: Any, two_reps: Any
) -> None:
    from crmcore.users.models import Team
    from sqlalchemy import select

    records.create(
        "roles",
        {"name": "team_seller", "title": "Team seller", "grants": {"orders": {"read": "team"}}},
    )
    lead = make_user("team_seller", teams=("North",))
    reader = crm.records(Access.for_user(lead))
    assert table(cached_cohorts(reader)) == []  # nobody in the team has orders
    north = crm.session.scalar(select(Team).where(Team.name == "North"))
    records.update("teams", north, {"member_ids": [lead.id, two_reps["two"].id]})
    reader = crm.records(Access.for_user(lead))
    assert [c.month for c in cached_cohorts(reader)] == ["2026-03", "2026-04"]
    records.update("teams", north, {"member_ids": [lead.id]})
    reader = crm.records(Access.for_user(lead))
    assert table(cached_cohorts(reader)) == []
