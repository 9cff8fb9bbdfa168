"""Report pages: the builder (CSRF, preview, save, errors on fields), the report as table,
pivot and charts with drill-down links, and the CSV and XLSX exports."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import pytest

pytestmark = pytest.mark.crm_plugins("sales", "insights")
NEW = "/insights/reports/new"


def token_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match
    return match.group(1)


def form(**values: str) -> dict[str, str]:
    base = {
        "name": "By stage",
        "entity": "deals",
        "group1": "stage_id",
        "measures": "count, sum:amount",
        "limit": "500",
        "visibility": "private",
        "chart": "bar",
    }
    return {**base, **values}


@pytest.fixture
def deals(make_deal: Any) -> None:
    make_deal("A", "10.00", close_date="2026-01-10", probability=10)
    make_deal("B", "20.00", close_date="2026-01-20", probability=20)
    make_deal("C <script>", "30.00", close_date="2026-02-10", probability=10)


def test_builder_needs_csrf(web: Any) -> None:
    assert web.get(NEW).status_code == 200
    response = web.post(NEW, data={**form(), "action": "save"})
    assert response.status_code == 400
    assert web.get("/api/v1/reports").status_code in (200, 401, 403)


def test_preview_save_and_show(web: Any, deals: None, records: Any) -> None:
    token = token_of(web.get(NEW).get_data(as_text=True))
    preview = web.post(NEW, data={**form(), "csrf_token": token, "action": "preview"})
    assert preview.status_code == 200
    html = preview.get_data(as_text=True)
    assert "60.00" in html
    saved = web.post(NEW, data={**form(), "csrf_token": token, "action": "save"})
    assert saved.status_code == 303
    page = web.get(saved.headers["Location"])
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "data-chart=" in text and "vendor/chart.umd.min.js" in text
    assert re.search(r"<script>(?!</script>)", text) is None  # no inline script (CSP)
    assert 'href="/deals?stage_id=' in text  # drill-down to the list


def test_errors_show_on_the_fields(web: Any) -> None:
    token = token_of(web.get(NEW).get_data(as_text=True))
    response = web.post(
        NEW,
        data={
            **form(group1="title:month", measures="sum:title"),
            "csrf_token": token,
            "action": "save",
        },
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'id="e-group1"' in html and "Only date fields take a bucket." in html
    assert 'id="e-measures"' in html and "A text field takes only a distinct count." in html
    assert 'value="sum:title"' in html  # nothing typed is lost


def _saved(records: Any, **definition: Any) -> Any:
    return records.create(
        "reports",
        {
            "name": "Deals by month",
            "chart": "table",
            "definition": {"entity": "deals", **definition},
        },
    )


def test_pivot_and_charts(web: Any, deals: None, records: Any) -> None:
    report = _saved(records, group_by=["close_date:month", "probability"], measures=["count"])
    url = f"/insights/reports/{report.id}"
    pivot = web.get(f"{url}?view=pivot").get_data(as_text=True)
    assert 'class="insights-pivot"' in pivot and "2026-01" in pivot
    assert "close_date__gte=2026-01-01" in pivot
    for view in ("bar", "line", "pie", "funnel"):
        assert "data-chart=" in web.get(f"{url}?view={view}").get_data(as_text=True)
    assert web.get(f"{url}?view=<b>").status_code == 200


def test_exports(web: Any, deals: None, records: Any) -> None:
    report = _saved(records, group_by=["probability"], measures=["count", "sum:amount"])
    response = web.get(f"/insights/reports/{report.id}/export.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == ["Probability", "Currency", "Count", "Sum (Amount)"]
    assert rows[1:] == [["10", "EUR", "2", "40.00"], ["20", "EUR", "1", "20.00"]]
    response = web.get(f"/insights/reports/{report.id}/export.xlsx")
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(response.get_data())).active
    assert [c.value for c in sheet[2]] == ["10", "EUR", 2, 40.0]
    assert web.get(f"/insights/reports/{report.id}/export.pdf").status_code == 404


def test_csv_cells_never_run_as_formulas(web: Any, make_deal: Any, records: Any) -> None:
    make_deal("=HYPERLINK(1)")
    report = _saved(records, group_by=["title"], measures=["count"])
    text = web.get(f"/insights/reports/{report.id}/export.csv").get_data(as_text=True)
    assert "'=HYPERLINK(1)" in text


def test_private_report_pages_are_not_found_for_others(
    web_as: Any, make_user: Any, records: Any
) -> None:
    owner, other = make_user("sales_rep"), make_user("sales_rep")
    report = records.create(
        "reports", {"name": "Mine", "owner_id": owner.id, "definition": {"entity": "deals"}}
    )
    assert web_as(owner).get(f"/insights/reports/{report.id}").status_code == 200
    client = web_as(other)
    for path in ("", "/export.csv", "/edit"):
        assert client.get(f"/insights/reports/{report.id}{path}").status_code == 404


def test_builder_saves_pin_and_schedule(web: Any, admin: Any, make_user: Any) -> None:
    token = token_of(web.get(NEW).get_data(as_text=True))
    data = {
        **form(),
        "csrf_token": token,
        "action": "save",
        "pinned": "on",
        "pin_range": "last_quarter",
        "pin_field": "close_date",
        "schedule": "weekly",
        "recipients": f"{admin.email}, outsider@example.org",
    }
    response = web.post(NEW, data=data)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Send reports only to active users of this CRM." in html
    assert "outsider@example.org" in html  # kept in the field
    response = web.post(NEW, data={**data, "recipients": admin.email})
    assert response.status_code == 303
    edit = web.get(response.headers["Location"] + "/edit").get_data(as_text=True)
    assert 'value="last_quarter" selected' in edit and 'value="weekly" selected' in edit
