"""Dashboard charts: a widget's ``chart`` value drawn with the vendored Chart.js.

A widget (``crm_dashboard_widgets``) asks for a chart by returning, besides any other values::

    {"chart": {"type": "bar",                 # bar, line, pie or doughnut
               "labels": ["Open", "Won"],
               "series": [{"label": "Deals", "data": [4, 2]}]}}

(``datasets`` is accepted for ``series``.) The page draws it on a ``<canvas>`` from a
``data-chart`` attribute (no inline script, so the Content-Security-Policy holds) and keeps the
same figures as a table for screen readers and for browsers without JavaScript. A malformed
chart is shown as the plain values instead, never as an error.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

CHART_TYPES = frozenset({"bar", "line", "pie", "doughnut"})
CHART_KEY = "chart"
MAX_POINTS = 200
MAX_SERIES = 10


def _number(value: Any) -> float | int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value if math.isfinite(value) else None


def chart_of(value: Any) -> dict[str, Any] | None:
    """The chart ``value`` describes, cleaned for the page, or ``None`` when it is not one."""
    if not isinstance(value, Mapping) or value.get("type") not in CHART_TYPES:
        return None
    labels = value.get("labels")
    series = value.get("series", value.get("datasets"))
    if not isinstance(labels, list) or not isinstance(series, list) or not series:
        return None
    labels = [str(x)[:100] for x in labels[:MAX_POINTS]]
    clean = []
    for item in series[:MAX_SERIES]:
        if not isinstance(item, Mapping) or not isinstance(item.get("data"), list):
            return None
        data = [_number(v) for v in item["data"][: len(labels)]]
        clean.append({"label": str(item.get("label", ""))[:100], "data": data})
    return {"type": value["type"], "labels": labels, "series": clean}


def chart_config(chart: Mapping[str, Any]) -> dict[str, Any]:
    """What ``crm.js`` hands to Chart.js (data only: options are fixed in the script)."""
    return {
        "type": chart["type"],
        "data": {
            "labels": chart["labels"],
            "datasets": [{"label": s["label"], "data": s["data"]} for s in chart["series"]],
        },
    }


def parts_of(data: Mapping[str, Any], table_of: Any) -> list[tuple[str, dict[str, Any]]]:
    """A widget's values as parts of its card: the chart first, then the rest as tables."""
    parts: list[tuple[str, dict[str, Any]]] = []
    chart = chart_of(data.get(CHART_KEY))
    if chart is not None:
        parts.append(
            (
                str(data.get("chart_title") or ""),
                {"kind": "chart", "chart": chart, "config": chart_config(chart)},
            )
        )
    for key, value in data.items():
        if key == "chart_title" or (key == CHART_KEY and chart is not None):
            continue
        parts.append((key, table_of(value)))
    return parts
