"""Reports over custom fields (``custom.<name>``): grouping, date buckets, measures, filters and
drill-down, inside the reader's scope, and the refusals - on SQLite and PostgreSQL (run with
``--crm-db``)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

import pytest
from crmcore.customfields import CustomField

pytestmark = pytest.mark.crm_plugins("sales", "insights")
RUN = "/api/v1/reports/run"


def run(client: Any, **definition: Any) -> Any:
    response = client.post(RUN, json=definition)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


@pytest.fixture
def deals(session: Any, make_deal: Any, make_user: Any, make_company: Any) -> dict[str, Any]:
    """Deals of two reps with a region (choice), a score (number), a signing date, a VIP flag
    (boolean) and a note (text); companies with a sector (text)."""
    for entity, name, kind, choices in (
        ("deals", "region", "choice", ["North", "South"]),
        ("deals", "score", "number", []),
        ("deals", "signed_on", "date", []),
        ("deals", "vip", "boolean", []),
        ("deals", "note", "text", []),
        ("companies", "sector", "text", []),
    ):
        session.add(CustomField(entity=entity, name=name, label=name.title(), type=kind,
                                choices=choices))  # fmt: skip
    session.commit()
    rep, other = make_user("sales_rep"), make_user("sales_rep")
    retail = make_company(name="Shop", custom_fields={"sector": "Retail"}, owner_id=rep.id)
    bank = make_company(name="Bank", custom_fields={"sector": "Finance"}, owner_id=other.id)
    made = {"rep": rep, "other": other}
    for title, owner, company, custom in (
        ("A", rep, retail, {"region": "North", "score": 10, "signed_on": "2026-01-05",
                            "vip": True, "note": "x"}),
        ("B", rep, bank, {"region": "North", "score": 30, "signed_on": "2026-01-20",
                          "vip": False}),
        ("C", rep, None, {"region": "South", "score": 2.5, "signed_on": "2026-02-01"}),
        ("D", other, bank, {"region": "South", "score": 100, "vip": True}),
        ("E", other, None, {}),
    ):  # fmt: skip
        made[title] = make_deal(
            title,
            "10.00",
            owner_id=owner.id,
            company_id=company.id if company else None,
            custom_fields=custom,
        )
    return made


def test_group_and_measure_by_custom_fields(api: Any, deals: dict[str, Any]) -> None:
    out = run(
        api,
        entity="deals",
        group_by=["custom.region"],
        measures=["count", "sum:custom.score", "avg:custom.score", "max:custom.score",
                  "count_distinct:custom.note"],
        sort=["-sum:custom.score"],
    )  # fmt: skip
    assert [c["key"] for c in out["columns"]] == [
        "custom.region",
        "count",
        "sum:custom.score",
        "avg:custom.score",
        "max:custom.score",
        "count_distinct:custom.note",
    ]  # fmt: skip  - numbers of custom fields are not money: no currency column
    rows = {r["custom.region"]: r for r in out["rows"]}
    assert [r["custom.region"] for r in out["rows"]] == ["South", "North", None]
    assert rows["North"]["count"] == 2 and rows["North"]["sum:custom.score"] == 40
    assert rows["North"]["avg:custom.score"] == 20 and rows["North"]["max:custom.score"] == 30
    assert rows["South"]["sum:custom.score"] == pytest.approx(102.5)
    assert rows["North"]["count_distinct:custom.note"] == 1
    assert rows[None]["count"] == 1 and rows[None]["sum:custom.score"] is None


def test_buckets_booleans_dates_and_filters(api: Any, deals: dict[str, Any]) -> None:
    out = run(api, entity="deals", group_by=["custom.signed_on:month"], measures=["count"])
    assert {r["custom.signed_on:month"]: r["count"] for r in out["rows"]} == {
        None: 2, "2026-01-01": 2, "2026-02-01": 1}  # fmt: skip
    out = run(api, entity="deals", group_by=["custom.vip"], measures=["count"])
    assert {r["custom.vip"]: r["count"] for r in out["rows"]} == {None: 2, True: 2, False: 1}
    out = run(api, entity="deals", measures=["min:custom.signed_on", "max:custom.signed_on"])
    assert out["rows"][0]["min:custom.signed_on"] == "2026-01-05"
    assert out["rows"][0]["max:custom.signed_on"] == "2026-02-01"
    out = run(
        api,
        entity="deals",
        filters={"custom.score__gte": "10", "custom.region": "North"},
        measures=["count"],
    )
    assert out["rows"][0]["count"] == 2


def test_joined_custom_field(api: Any, deals: dict[str, Any]) -> None:
    out = run(
        api,
        entity="deals",
        joins=["company_id"],
        group_by=["company_id.custom.sector"],
        measures=["count"],
        filters={"company_id.custom.sector__contains": "fin"},
    )
    assert {r["company_id.custom.sector"]: r["count"] for r in out["rows"]} == {"Finance": 2}
    assert out["rows"][0]["_filter"] is None  # lists cannot filter by a joined field


def test_drill_down_opens_the_same_records(api: Any, deals: dict[str, Any]) -> None:
    out = run(api, entity="deals", group_by=["custom.region", "custom.signed_on:month"],
              measures=["count"])  # fmt: skip
    for row in out["rows"]:
        query = row["_filter"]
        assert query is not None
        pairs = parse_qsl(query)
        assert any(k.startswith("custom.region") for k, _v in pairs)
        listed = api.get(f"/api/v1/deals?{query}&limit=200")
        assert listed.status_code == 200, (query, listed.get_json())
        assert len(listed.get_json()["data"]) == row["count"], query


def test_the_readers_scope(api_as: Any, deals: dict[str, Any]) -> None:
    definition = {"entity": "deals", "group_by": ["custom.region"], "measures": ["count"],
                  "joins": ["company_id"]}  # fmt: skip
    rows = run(api_as(deals["rep"]), **definition)["rows"]
    assert {r["custom.region"]: r["count"] for r in rows} == {"North": 2, "South": 1}
    rows = run(api_as(deals["other"]), **definition)["rows"]
    assert {r["custom.region"]: r["count"] for r in rows} == {"South": 1, None: 1}
    # the rep's deal B is at the other rep's company: its sector reads as empty
    definition["group_by"] = ["company_id.custom.sector"]
    rows = run(api_as(deals["rep"]), **definition)["rows"]
    assert {r["company_id.custom.sector"]: r["count"] for r in rows} == {"Retail": 1, None: 2}


@pytest.mark.parametrize(
    ("definition", "part", "message"),
    [
        ({"group_by": ["custom.nothing"]}, "group_by.0.field",
         "No such field, or it cannot be used in reports."),
        ({"measures": ["sum:custom.note"]}, "measures.0.field",
         "A text field takes only a distinct count."),
        ({"measures": ["avg:custom.region"]}, "measures.0.field",
         "A text field takes only a distinct count."),
        ({"measures": ["sum:custom.signed_on"]}, "measures.0.field",
         "A date field takes only min, max or a distinct count."),
        ({"measures": ["sum:custom.vip"]}, "measures.0.field",
         "This field takes only a distinct count."),
        ({"group_by": ["custom.region:month"]}, "group_by.0.bucket",
         "Only date fields take a bucket."),
        ({"group_by": ["company_id.custom.sector"]}, "group_by.0.field",
         "Add the join of this field to the report first."),
        ({"joins": ["company_id"], "group_by": ["company_id.custom.region"]},
         "group_by.0.field", "No such field, or it cannot be used in reports."),
        ({"group_by": ["custom.name'; drop table core_contact; --"]}, "group_by.0.field",
         "No such field, or it cannot be used in reports."),
        ({"sort": ["-sum:custom.score"]}, "sort.0",
         "Sort by a group or a measure of this report."),
    ],
)  # fmt: skip
def test_bad_custom_fields_name_the_part(
    api: Any, deals: dict[str, Any], definition: dict[str, Any], part: str, message: str
) -> None:
    response = api.post(RUN, json={"entity": "deals", **definition})
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["errors"][part] == [message]


def test_unknown_custom_filter_and_bad_values(api: Any, deals: dict[str, Any]) -> None:
    for filters, part in (
        ({"custom.nothing": "1"}, "filters.custom.nothing"),
        ({"custom.score__gte": "lots"}, "filters.custom.score__gte"),
        ({"custom.vip__contains": "t"}, "filters.custom.vip__contains"),
    ):
        response = api.post(RUN, json={"entity": "deals", "filters": filters})
        assert response.status_code == 422, filters
        assert list(response.get_json()["errors"]) == [part]


def test_a_deleted_definition_is_no_longer_a_field(
    api: Any, session: Any, records: Any, deals: dict[str, Any]
) -> None:
    from sqlalchemy import select

    field = session.scalars(select(CustomField).where(CustomField.name == "score")).one()
    records.delete("custom_fields", field)
    response = api.post(RUN, json={"entity": "deals", "measures": ["sum:custom.score"]})
    assert response.status_code == 422
    assert "measures.0.field" in response.get_json()["errors"]


def test_the_builder_page(web_as: Any, admin: Any, deals: dict[str, Any]) -> None:
    client = web_as(admin)
    page = client.get("/insights/reports/new?entity=deals").get_data(as_text=True)
    assert "custom.region" in page and "custom.score" in page
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    form = {"csrf_token": token[1], "entity": "deals", "group1": "custom.region",
            "measures": "count, sum:custom.score", "limit": "500", "action": "preview"}  # fmt: skip
    response = client.post("/insights/reports/new", data=form)
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert "North" in text and "South" in text
    form["measures"] = "sum:custom.note"
    response = client.post("/insights/reports/new", data=form)
    assert response.status_code == 422
    assert "A text field takes only a distinct count." in response.get_data(as_text=True)
    form["action"] = "save"
    form["measures"] = "count"
    form["name"] = "By region"
    form["pinned"] = "on"
    form["pin_range"] = "this_year"
    form["pin_field"] = "custom.signed_on"
    response = client.post("/insights/reports/new", data=form)
    assert response.status_code == 303
    assert client.get("/").status_code == 200  # the pinned widget filters by the custom date


def test_pivot_by_a_custom_field_orders_its_columns(
    app: Any, api: Any, deals: dict[str, Any]
) -> None:
    from crm_insights.reports import present

    out = run(api, entity="deals", group_by=["custom.region", "custom.signed_on:month"],
              measures=["count"], sort=["-count"])  # fmt: skip
    assert [r["custom.signed_on:month"] for r in out["rows"]][:2] == ["2026-01-01", None]
    with app.test_request_context():  # labels are translated
        table, chart = present.pivot(out), present.chart(out, "bar")
    assert table is not None
    # the rows meet January first (the biggest count): the columns still go in date order
    assert table["columns"] == ["(empty)", "2026-01", "2026-02"]
    assert table["rows"] == ["North", "(empty)", "South"]
    assert chart is not None
    assert [s["label"] for s in chart["data"]["datasets"]] == ["(empty)", "2026-01", "2026-02"]
