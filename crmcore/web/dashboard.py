"""Dashboard charts: a widget's ``chart`` value drawn with the vendored Chart.js.

A widget (``crm_dashboard_widgets``) asks for a chart by returning, besides any other values::

    {"chart": {"type": "bar",                 # bar, line, pie or doughnut
               "labels": ["Open", "Won"],
               "series": [{"label": "Deals", "data": [4, 2]}]}}

(``datasets`` is accepted for ``series``.) A widget whose figures the reader may change (a date
range) returns ``controls``: a form of the dashboard page itself, sent with ``GET`` so the choice
lives in the page's address (the reader's own, bookmarkable, no script)::

    {"controls": {"label": "Date range",      # the form's accessible name
                  "note": "1 Oct - 31 Dec",   # optional: what applies now
                  "error": None,              # optional: a message about the choice
                  "fields": [{"name": "range", "label": "Range", "type": "select",
                              "options": [["", "As saved"], ["this_month", "This month"]],
                              "value": ""},
                             {"name": "from", "label": "From", "type": "date", "value": ""}]}}

The widget reads its fields back from ``flask.request.args``. The page draws the chart on a
``<canvas>`` from a ``data-chart`` attribute (no inline script, so the Content-Security-Policy
holds) and keeps the same figures as a table for screen readers and for browsers without
JavaScript. A malformed chart is shown as the plain values instead, never as an error.
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


CONTROLS_KEY = "controls"
CONTROL_TYPES = frozenset({"select", "date"})
MAX_CONTROLS = 6


def controls_of(value: Any) -> dict[str, Any] | None:
    """The form ``value`` describes, cleaned for the page, or ``None`` when it is not one."""
    if not isinstance(value, Mapping) or not isinstance(value.get("fields"), list):
        return None
    fields = []
    for item in value["fields"][:MAX_CONTROLS]:
        if not isinstance(item, Mapping) or item.get("type") not in CONTROL_TYPES:
            return None
        options = item.get("options") or []
        if not isinstance(options, list) or not all(
            isinstance(o, list | tuple) and len(o) == 2 for o in options
        ):
            return None
        fields.append(
            {
                "name": str(item.get("name", ""))[:50],
                "label": str(item.get("label", ""))[:100],
                "type": item["type"],
                "value": str(item.get("value") or "")[:100],
                "options": [(str(v)[:50], str(t)[:100]) for v, t in options[:50]],
            }
        )
    return {
        "label": str(value.get("label") or "")[:100],
        "note": str(value.get("note") or "")[:200],
        "error": str(value.get("error") or "")[:200],
        "fields": fields,
    }


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
        if key in ("chart_title", CONTROLS_KEY) or (key == CHART_KEY and chart is not None):
            continue
        parts.append((key, table_of(value)))
    return parts
