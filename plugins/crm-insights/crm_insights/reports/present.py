"""A report's result as people read it: labels of cells, the table, the pivot and the chart
(the data ``crm.js`` hands to the vendored Chart.js)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from crmcore.web.i18n import label
from flask_babel import gettext as _

from .buckets import bucket_label

#: Points a chart draws at most (the table keeps every row).
MAX_POINTS = 200
CHART_TYPES = ("bar", "line", "pie", "funnel")


def cell_label(column: dict[str, Any], row: dict[str, Any]) -> str:
    """How the value of ``column`` in ``row`` reads on a page, in a chart or in an export."""
    value = row.get(column["key"])
    if value is None:
        return str(_("(empty)"))
    if column["role"] == "group" and column.get("bucket"):
        return bucket_label(dt.date.fromisoformat(value), column["bucket"])
    name = row.get(f"{column['key']}_name")
    if name:
        return str(name)
    if column.get("kind") == "reference":
        return f"#{value}"
    if isinstance(value, bool):
        return str(_("Yes") if value else _("No"))
    return str(value)


def heading(column: dict[str, Any]) -> str:
    """A column's heading: the field, its bucket, the measure."""
    if column["role"] == "measure":
        names = {
            "count": _("Count"),
            "sum": _("Sum"),
            "avg": _("Average"),
            "min": _("Minimum"),
            "max": _("Maximum"),
            "count_distinct": _("Distinct count"),
        }
        op = names[column["op"]]
        return f"{op} ({field_heading(column['field'])})" if column.get("field") else op
    if column.get("bucket"):
        buckets = {
            "day": _("day"),
            "week": _("week"),
            "month": _("month"),
            "quarter": _("quarter"),
            "year": _("year"),
        }
        return f"{field_heading(column['field'])} ({buckets[column['bucket']]})"
    if column["role"] == "currency":
        return str(_("Currency"))
    return field_heading(column["field"])


def field_heading(path: str) -> str:
    """A field path as people read it, translated: ``company_id.name`` -> "Company / Name",
    ``custom.rfm_segment`` -> "Rfm segment", ``line.product_id.name`` -> "Line / Product / Name"."""
    return " / ".join(label(part) for part in path.split(".") if part != "custom")


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def dimensions(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in result["columns"] if c["role"] != "measure"]


def measures(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in result["columns"] if c["role"] == "measure"]


def row_label(result: dict[str, Any], row: dict[str, Any], skip: str | None = None) -> str:
    parts = [cell_label(c, row) for c in dimensions(result) if c["key"] != skip]
    return " · ".join(parts) if parts else str(_("All"))


def chart(result: dict[str, Any], kind: str) -> dict[str, Any] | None:
    """The Chart.js data of ``result`` drawn as ``kind`` (bar, line, pie or funnel), or ``None``
    when there is nothing numeric to draw. Two groups: the first gives the labels, the second
    the series (of the first measure); a funnel is a bar chart sorted from the largest."""
    numeric = [m for m in measures(result) if m["kind"] == "number"]
    rows = result["rows"][:MAX_POINTS]
    if not numeric or not rows:
        return None
    groups = [c for c in result["columns"] if c["role"] == "group"]
    datasets: list[dict[str, Any]]
    if len(groups) == 2 and kind != "pie":
        second = groups[1]
        labels = list(dict.fromkeys(row_label(result, r, skip=second["key"]) for r in rows))
        met = dict.fromkeys(cell_label(second, r) for r in rows)
        series: dict[str, list[float | None]] = {
            name: [None] * len(labels) for name in _in_order(rows, second, met)
        }
        for r in rows:
            name = cell_label(second, r)
            data = series.setdefault(name, [None] * len(labels))
            data[labels.index(row_label(result, r, skip=second["key"]))] = _number(
                r[numeric[0]["key"]]
            )
        datasets = [{"label": k, "data": v} for k, v in list(series.items())[:10]]
    else:
        labels = [row_label(result, r) for r in rows]
        shown = numeric[:1] if kind in ("pie", "funnel") else numeric
        datasets = [
            {"label": heading(m), "data": [_number(r[m["key"]]) for r in rows]} for m in shown
        ]
    if kind == "funnel":
        values: list[float | None] = list(datasets[0]["data"])
        order = sorted(range(len(labels)), key=lambda i: -(values[i] or 0.0))
        labels = [labels[i] for i in order]
        datasets = [{"label": datasets[0]["label"], "data": [values[i] for i in order]}]
    return {
        "type": "bar" if kind == "funnel" else kind,
        "data": {"labels": labels, "datasets": datasets},
    }


def pivot(result: dict[str, Any]) -> dict[str, Any] | None:
    """Two groups as a cross table of the first measure: rows by the first group (and the
    currency), columns by the second; ``None`` with fewer groups."""
    groups = [c for c in result["columns"] if c["role"] == "group"]
    if len(groups) != 2 or not measures(result):
        return None
    second = groups[1]
    measure = measures(result)[0]
    row_labels: dict[str, None] = {}
    col_labels: dict[str, None] = {}
    cells: dict[tuple[str, str], dict[str, Any]] = {}
    for r in result["rows"]:
        rl, cl = row_label(result, r, skip=second["key"]), cell_label(second, r)
        row_labels[rl] = None
        col_labels[cl] = None
        cells[(rl, cl)] = r
    return {
        "measure": heading(measure),
        "measure_key": measure["key"],
        "corner": " · ".join(heading(c) for c in dimensions(result) if c is not second),
        "second": heading(second),
        "rows": list(row_labels),
        "columns": _in_order(result["rows"], second, col_labels),
        "cells": cells,
    }


def _in_order(
    rows: list[dict[str, Any]], second: dict[str, Any], labels: dict[str, None]
) -> list[str]:
    """The pivot's column labels in the order of the second group's values (empty first), not
    in the order the rows first meet them."""
    key = second["key"]
    try:
        ordered = sorted(rows, key=lambda r: (r.get(key) is not None, r.get(key)))
    except TypeError:  # values that do not compare: keep the order met
        return list(labels)
    return list(dict.fromkeys(cell_label(second, r) for r in ordered))


def table(result: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Headings and the rows as text (pages and exports)."""
    cols = result["columns"]
    head = [heading(c) for c in cols]
    body = [[cell_label(c, r) for c in cols] for r in result["rows"]]
    return head, body
