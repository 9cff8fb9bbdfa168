"""Sales endpoints against hostile input (issue 17, finding 8): numbers a database cannot take
in filters, Unicode digits and ids beyond the database in the forecast, bodies that are not JSON
on ``@blp.arguments`` endpoints."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.crm_plugins("sales")

JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize("value", ["sNaN", "NaN", "-Infinity", "1e999999999", "1e-999999999"])
def test_non_finite_amounts_in_filters_are_400(api: Any, value: str) -> None:
    for op in ("amount", "amount__gt", "amount__lte"):
        r = api.get(f"/api/v1/deals?{op}={value}")
        assert r.status_code == 400, (op, r.data[:300])
        assert r.mimetype == "application/problem+json"
    assert api.get("/api/v1/deals?amount__gt=12.50").status_code == 200


@pytest.mark.parametrize("owner", ["²", "2147483648", "9" * 4300, "-1"])
def test_forecast_owner_must_be_a_user_id(api: Any, owner: str) -> None:
    r = api.get(f"/api/v1/forecast?owner={owner}")
    assert r.status_code == 422, r.data[:300]
    assert "owner" in r.get_json()["errors"]


@pytest.mark.parametrize("body", ["{bad", "[" * 5000 + "]" * 5000, '{"x": "\\udc00"}'])
def test_bad_json_on_action_bodies_is_400(api: Any, body: str) -> None:
    for url in ("/api/v1/leads/1/convert", "/api/v1/quotes/1/send"):
        r = api.post(url, data=body, headers=JSON)
        assert r.status_code == 400, (url, r.data[:300])
        assert r.get_json()["detail"]
