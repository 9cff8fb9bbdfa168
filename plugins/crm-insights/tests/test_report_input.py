"""Bad report definitions are refused with 422, naming the part at fault; never a 500."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.crm_plugins("sales", "insights")
RUN = "/api/v1/reports/run"


@pytest.mark.parametrize(
    ("definition", "part", "message"),
    [
        ({"entity": "nothing"}, "entity", "No such entity."),
        ({"entity": 5}, "entity", "No such entity."),
        (
            {"entity": "deals", "group_by": ["nope"]},
            "group_by.0.field",
            "No such field, or it cannot be used in reports.",
        ),
        (
            {"entity": "deals", "group_by": ["title; DROP TABLE sales_deal"]},
            "group_by.0.field",
            "No such field, or it cannot be used in reports.",
        ),
        (
            {"entity": "users", "group_by": ["password_hash"]},
            "group_by.0.field",
            "No such field, or it cannot be used in reports.",
        ),
        (
            {"entity": "deals", "group_by": ["tags"]},
            "group_by.0.field",
            "No such field, or it cannot be used in reports.",
        ),
        (
            {"entity": "deals", "measures": ["sum:title"]},
            "measures.0.field",
            "A text field takes only a distinct count.",
        ),
        (
            {"entity": "deals", "measures": ["avg:close_date"]},
            "measures.0.field",
            "A date field takes only min, max or a distinct count.",
        ),
        (
            {"entity": "deals", "measures": ["sum:stage_id"]},
            "measures.0.field",
            "This field takes only a distinct count.",
        ),
        (
            {"entity": "deals", "measures": ["median:amount"]},
            "measures.0.op",
            "Measures are count, sum, avg, min, max or count_distinct.",
        ),
        (
            {"entity": "deals", "measures": ["sum"]},
            "measures.0.field",
            "This measure needs a field.",
        ),
        ({"entity": "deals", "measures": []}, "measures", "Add at least one measure."),
        (
            {"entity": "deals", "group_by": ["close_date:fortnight"]},
            "group_by.0.bucket",
            "Date buckets are day, week, month, quarter or year.",
        ),
        (
            {"entity": "deals", "group_by": ["title:month"]},
            "group_by.0.bucket",
            "Only date fields take a bucket.",
        ),
        (
            {"entity": "deals", "group_by": ["title", "stage_id", "owner_id"]},
            "group_by",
            "Too many items.",
        ),
        (
            {"entity": "deals", "joins": ["title"]},
            "joins.0",
            "Not a reference of this entity to another entity.",
        ),
        (
            {"entity": "deals", "joins": ["company_id", "company_id"]},
            "joins.1",
            "Join each reference once.",
        ),
        (
            {"entity": "deals", "group_by": ["company_id.name"]},
            "group_by.0.field",
            "Add the join of this field to the report first.",
        ),
        (
            {"entity": "deals", "filters": {"company_id.name": "x"}},
            "filters.company_id.name",
            "Add the join of this field to the report first.",
        ),
        (
            {"entity": "deals", "filters": {"limit": "5"}},
            "filters.limit",
            "Not a filter of the list language.",
        ),
        (
            {"entity": "deals", "filters": {"amount": {"$gt": 1}}},
            "filters.amount",
            "Not a valid value.",
        ),
        ({"entity": "deals", "filters": "amount=5"}, "filters", "Must be an object."),
        (
            {"entity": "deals", "sort": ["-nothing"]},
            "sort.0",
            "Sort by a group or a measure of this report.",
        ),
        ({"entity": "deals", "limit": 0}, "limit", "Must be a whole number between 1 and 5000."),
        ({"entity": "deals", "limit": True}, "limit", "Must be a whole number between 1 and 5000."),
        ({"entity": "deals", "select": "1"}, "select", "Unknown part of a report definition."),
    ],
)
def test_bad_definitions_name_the_part(
    api: Any, definition: dict[str, Any], part: str, message: str
) -> None:
    response = api.post(RUN, json=definition)
    assert response.status_code == 422, response.get_json()
    assert response.content_type.startswith("application/problem+json")
    assert response.get_json()["errors"][part] == [message]


@pytest.mark.parametrize(
    "filters",
    [
        {"nothing": "1"},
        {"amount__gte": "lots"},
        {"amount__between": "1"},
        {"close_date": "yesterday"},
    ],
)
def test_bad_filters_are_refused_like_in_lists(api: Any, filters: dict[str, Any]) -> None:
    response = api.post(RUN, json={"entity": "deals", "filters": filters})
    assert response.status_code == 422
    (part,) = response.get_json()["errors"]
    assert part.startswith("filters.")


@pytest.mark.parametrize("body", ["[]", "null", "{", '"deals"'])
def test_bodies_that_are_not_definitions(api: Any, body: str) -> None:
    response = api.post(RUN, data=body, headers={"Content-Type": "application/json"})
    assert response.status_code in (400, 422)


def test_run_needs_a_signed_in_caller(client: Any) -> None:
    assert client.post(RUN, json={"entity": "deals"}).status_code == 401


def test_unknown_saved_report_is_404(api: Any) -> None:
    assert api.post("/api/v1/reports/999999/run").status_code == 404


def test_the_endpoints_are_in_openapi(api: Any) -> None:
    spec = api.get("/api/v1/openapi.json").get_json()
    run = spec["paths"]["/api/v1/reports/run"]["post"]
    assert run["requestBody"]["content"]["application/json"]["schema"]
    assert "200" in run["responses"] and "422" in run["responses"]
    assert "/api/v1/reports/{report_id}/run" in spec["paths"]
    assert "ReportDefinition" in spec["components"]["schemas"]
