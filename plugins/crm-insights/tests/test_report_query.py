"""The report builder's query: every measure, bucket, join and scope, on SQLite and PostgreSQL
(run with ``--crm-db``), through ``POST /api/v1/reports/run``."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

pytestmark = pytest.mark.crm_plugins("sales", "insights")
RUN = "/api/v1/reports/run"


def run(client: Any, **definition: Any) -> Any:
    response = client.post(RUN, json=definition)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_every_measure(api: Any, make_deal: Any) -> None:
    make_deal("A", "100.50", probability=10)
    make_deal("B", "200.00", probability=20)
    make_deal("C", "300.25", probability=20)
    out = run(
        api,
        entity="deals",
        measures=[
            "count",
            "sum:amount",
            "avg:amount",
            "min:amount",
            "max:amount",
            "count_distinct:probability",
            "avg:probability",
            "sum:probability",
            "min:created_at",
            "count_distinct:title",
        ],
    )
    row = out["rows"][0]
    assert row["count"] == 3
    assert Decimal(row["sum:amount"]) == Decimal("600.75")
    assert Decimal(row["avg:amount"]) == Decimal("200.25")
    assert Decimal(row["min:amount"]) == Decimal("100.50")
    assert Decimal(row["max:amount"]) == Decimal("300.25")
    assert row["count_distinct:probability"] == 2
    assert row["avg:probability"] == pytest.approx(16.67)
    assert row["sum:probability"] == 50
    assert row["min:created_at"] is not None
    assert row["count_distinct:title"] == 3
    assert row["currency"] == "EUR"  # money measured apart per currency


def test_currencies_are_kept_apart(api: Any, make_deal: Any) -> None:
    make_deal("A", "100.00", currency="EUR")
    make_deal("B", "50.00", currency="USD")
    make_deal("C", "25.00", currency="USD")
    out = run(api, entity="deals", group_by=["stage_id"], measures=["sum:amount"])
    assert [c["key"] for c in out["columns"]] == ["stage_id", "currency", "sum:amount"]
    sums = {r["currency"]: Decimal(r["sum:amount"]) for r in out["rows"]}
    assert sums == {"EUR": Decimal("100.00"), "USD": Decimal("75.00")}
    # a count alone is not money: no currency column
    out = run(api, entity="deals", measures=["count"])
    assert [c["key"] for c in out["columns"]] == ["count"]


def test_group_by_reference_names_it_and_sorts(api: Any, make_deal: Any, session: Any) -> None:
    from crm_sales.models import Stage
    from sqlalchemy import select

    stages = {s.name: s for s in session.scalars(select(Stage))}
    won, lost = stages["Won"], stages["Lost"]
    make_deal("A", "10.00", stage_id=won.id)
    make_deal("B", "20.00", stage_id=won.id)
    make_deal("C", "5.00", stage_id=lost.id)
    out = run(
        api,
        entity="deals",
        group_by=["stage_id"],
        measures=["count", "sum:amount"],
        sort=["-sum:amount"],
    )
    assert [(r["stage_id_name"], r["count"]) for r in out["rows"]] == [("Won", 2), ("Lost", 1)]
    assert (
        run(
            api, entity="deals", group_by=["stage_id"], measures=["count"], sort=["count"], limit=1
        )["rows"][0]["stage_id"]
        == lost.id
    )


@pytest.mark.parametrize(
    ("bucket", "expected"),
    [
        ("day", ["2026-01-31", "2026-02-01", "2026-04-30"]),
        ("week", ["2026-01-26", "2026-04-27"]),
        ("month", ["2026-01-01", "2026-02-01", "2026-04-01"]),
        ("quarter", ["2026-01-01", "2026-04-01"]),
        ("year", ["2026-01-01"]),
    ],
)
def test_date_buckets(api: Any, make_deal: Any, bucket: str, expected: list[str]) -> None:
    for day in ("2026-01-31", "2026-02-01", "2026-04-30"):
        make_deal(day, close_date=day)
    make_deal("No date")
    out = run(
        api,
        entity="deals",
        group_by=[{"field": "close_date", "bucket": bucket}],
        measures=["count"],
    )
    dated = [r[f"close_date:{bucket}"] for r in out["rows"] if r[f"close_date:{bucket}"]]
    assert dated == expected
    assert sum(r["count"] for r in out["rows"]) == 4
    assert out["rows"][0][f"close_date:{bucket}"] is None  # no date: its own group, first


@pytest.mark.parametrize(
    ("bucket", "expected"),
    [
        # 2026-03-31 22:30 UTC is 2026-04-01 00:30 in Madrid (summer time, UTC+2)
        ("day", ["2026-01-01", "2026-04-01"]),
        ("week", ["2025-12-29", "2026-03-30"]),
        ("month", ["2026-01-01", "2026-04-01"]),
        ("quarter", ["2026-01-01", "2026-04-01"]),
        # 2025-12-31 23:30 UTC is 2026-01-01 00:30 in Madrid (winter time, UTC+1)
        ("year", ["2026-01-01"]),
    ],
)
def test_timestamp_buckets_in_the_instance_time_zone(
    api: Any, make_deal: Any, stamp: Any, set_time_zone: Any, bucket: str, expected: list[str]
) -> None:
    set_time_zone("Europe/Madrid")
    stamp(make_deal("Spring"), dt.datetime(2026, 3, 31, 22, 30, tzinfo=dt.UTC))
    stamp(make_deal("New year"), dt.datetime(2025, 12, 31, 23, 30, tzinfo=dt.UTC))
    out = run(api, entity="deals", group_by=[f"created_at:{bucket}"], measures=["count"])
    assert [r[f"created_at:{bucket}"] for r in out["rows"]] == expected


def test_timestamp_buckets_in_utc(api: Any, make_deal: Any, stamp: Any) -> None:
    stamp(make_deal("Spring"), dt.datetime(2026, 3, 31, 22, 30, tzinfo=dt.UTC))
    out = run(api, entity="deals", group_by=["created_at:month"], measures=["count"])
    assert [r["created_at:month"] for r in out["rows"]] == ["2026-03-01"]


def test_two_groups_pivot_rows(api: Any, make_deal: Any) -> None:
    make_deal("A", close_date="2026-01-10", probability=10)
    make_deal("B", close_date="2026-01-20", probability=20)
    make_deal("C", close_date="2026-02-10", probability=10)
    out = run(api, entity="deals", group_by=["close_date:month", "probability"], measures=["count"])
    cells = [(r["close_date:month"], r["probability"], r["count"]) for r in out["rows"]]
    assert cells == [("2026-01-01", 10, 1), ("2026-01-01", 20, 1), ("2026-02-01", 10, 1)]


def test_join_groups_by_the_joined_field(api: Any, make_deal: Any, make_company: Any) -> None:
    acme, globex = make_company(name="Acme"), make_company(name="Globex")
    make_deal("A", "10.00", company_id=acme.id)
    make_deal("B", "20.00", company_id=acme.id)
    make_deal("C", "30.00", company_id=globex.id)
    make_deal("D", "40.00")
    out = run(
        api,
        entity="deals",
        joins=["company_id"],
        group_by=["company_id.name"],
        measures=["count", "sum:amount"],
        filters={"company_id.name__contains": "a"},
    )
    got = {r["company_id.name"]: (r["count"], r["sum:amount"]) for r in out["rows"]}
    assert got == {"Acme": (2, "30.00")}  # "contains" ignores case; Globex has no "a"
    out = run(
        api, entity="deals", joins=["company_id"], group_by=["company_id.name"], measures=["count"]
    )
    assert {r["company_id.name"]: r["count"] for r in out["rows"]} == {
        None: 1,
        "Acme": 2,
        "Globex": 1,
    }


def test_filters_use_the_list_language(api: Any, make_deal: Any) -> None:
    make_deal("Big", "1000.00", close_date="2026-05-01")
    make_deal("Small", "10.00", close_date="2026-05-02")
    make_deal("Old", "500.00", close_date="2025-01-01")
    out = run(
        api,
        entity="deals",
        measures=["count"],
        filters={"amount__gte": "100", "close_date__gte": "2026-01-01"},
    )
    assert out["rows"][0]["count"] == 1
    out = run(api, entity="deals", measures=["count"], filters={"title__in": "Big,Small"})
    assert out["rows"][0]["count"] == 2


def test_drill_down_matches_the_list(api: Any, make_deal: Any) -> None:
    make_deal("A", "10.00", close_date="2026-01-10", currency="USD")
    make_deal("B", "20.00", close_date="2026-01-20")
    make_deal("C", "30.00", close_date="2026-02-10")
    make_deal("D", "30.00")
    out = run(
        api,
        entity="deals",
        group_by=["close_date:month"],
        measures=["count", "sum:amount"],
        filters={"amount__gte": "5"},
    )
    for row in out["rows"]:
        listed = api.get(f"/api/v1/deals?{row['_filter']}&limit=200").get_json()["data"]
        assert len(listed) == row["count"], row
        assert {d["currency"] for d in listed} == {row["currency"]}


def test_timestamp_drill_down_in_the_time_zone(
    api: Any, make_deal: Any, stamp: Any, set_time_zone: Any
) -> None:
    set_time_zone("America/New_York")
    stamp(make_deal("Late"), dt.datetime(2026, 2, 1, 3, 0, tzinfo=dt.UTC))  # Jan 31 in New York
    stamp(make_deal("Early"), dt.datetime(2026, 2, 1, 6, 0, tzinfo=dt.UTC))
    out = run(api, entity="deals", group_by=["created_at:month"], measures=["count"])
    assert [(r["created_at:month"], r["count"]) for r in out["rows"]] == [
        ("2026-01-01", 1),
        ("2026-02-01", 1),
    ]
    for row in out["rows"]:
        listed = api.get(f"/api/v1/deals?{row['_filter']}").get_json()["data"]
        assert len(listed) == 1
