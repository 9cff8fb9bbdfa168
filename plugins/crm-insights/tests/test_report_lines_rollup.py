"""A report over order lines is never answered from a rollup of orders (it counts lines, not
orders): the plain query answers it. Runs where the rollups are present."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.crm_plugins("sales", "insights")
rollups = pytest.importorskip("crm_insights.rollups")
manage = pytest.importorskip("crm_insights.rollups.manage")


def test_a_line_report_takes_the_plain_query(crm: Any, records: Any, admin: Any) -> None:
    from crmcore.permissions import Access

    from crm_insights.reports import parse_definition, run_definition

    line = {"description": "Thing", "quantity": "1", "unit_price": "5.00", "tax_rate": "0"}
    for day, count in (("2026-01-05", 3), ("2026-01-20", 2)):
        body = {"currency": "EUR", "order_date": day, "lines": [line] * count}
        records.create("orders", body)
    orders = records.entity("orders")
    found, _new = manage.ensure(
        records, manage.check_fields(records, orders, ["order_date"], ["total"])
    )
    crm.session.commit()
    assert found.status == "ready"
    service = crm.records(Access.for_user(admin))
    by_month = {"group_by": ["order_date:month"], "measures": ["count"]}
    assert rollups.rollup_builder(
        service, parse_definition(service, {"entity": "orders", **by_month})
    )
    d = parse_definition(service, {"entity": "orders.lines", **by_month})
    assert rollups.rollup_builder(service, d) is None
    assert [r["count"] for r in run_definition(service, d)["rows"]] == [5]
