"""Dashboard widgets: the support reports as charts (the core draws a widget's ``chart`` with
its vendored Chart.js from a ``data-chart`` attribute, no inline script) plus key figures.

Each widget reads through the user's record service, so it counts only tickets they may read.
Labels are translated at render time, in the reader's language.
"""

from __future__ import annotations

from typing import Any

from flask import has_request_context
from flask_babel import gettext

from . import reports
from .models import OPEN_STATUSES


def _(text: str) -> str:
    """Translated for the reader on a page; as it is elsewhere (the API, a job)."""
    return gettext(text) if has_request_context() else text


STATUS_LABELS = {
    "new": "New",
    "open": "Open",
    "pending": "Pending",
    "on_hold": "On hold",
}


def backlog(user: Any, records: Any) -> dict[str, Any]:
    """Open tickets by status, how many, and how many nobody has taken."""
    data = reports.backlog(records)
    return {
        "chart": {
            "type": "bar",
            "labels": [_(STATUS_LABELS[s]) for s in OPEN_STATUSES],
            "series": [
                {"label": _("Tickets"), "data": [data["by_status"][s] for s in OPEN_STATUSES]}
            ],
        },
        "open": data["open"],
        "unassigned": data["unassigned"],
    }


def response_times(user: Any, records: Any) -> dict[str, Any]:
    """Average and median first-response and resolution times, in hours, last 30 days."""
    data = reports.response_times(records)

    def hours(value: float | None) -> float | None:
        return None if value is None else round(value / 60, 1)

    kinds = ("first_response", "resolution")
    return {
        "chart": {
            "type": "bar",
            "labels": [_("First response"), _("Resolution")],
            "series": [
                {
                    "label": _("Average (hours)"),
                    "data": [hours(data[k]["average_minutes"]) for k in kinds],
                },
                {
                    "label": _("Median (hours)"),
                    "data": [hours(data[k]["median_minutes"]) for k in kinds],
                },
            ],
        },
        "answered": data["first_response"]["count"],
        "solved": data["resolution"]["count"],
    }


def sla_compliance(user: Any, records: Any) -> dict[str, Any]:
    """Tickets with targets by SLA state, and the share that kept them, last 30 days."""
    data = reports.sla_compliance(records)
    states = ("ok", "warning", "breached")
    percent = data["compliance_percent"]
    return {
        "chart": {
            "type": "doughnut",
            "labels": [_("Ok"), _("Warning"), _("Breached")],
            "series": [{"label": _("Tickets"), "data": [data[s] for s in states]}],
        },
        "compliance": "-" if percent is None else f"{percent:g} %",
    }


def satisfaction(user: Any, records: Any) -> dict[str, Any]:
    """Survey answers by rating, how many and the average, last 30 days."""
    data = reports.satisfaction(records)
    ratings = [str(n) for n in range(1, 6)]
    return {
        "chart": {
            "type": "bar",
            "labels": ratings,
            "series": [{"label": _("Answers"), "data": [data["distribution"][r] for r in ratings]}],
        },
        "answers": data["answers"],
        "average": "-" if data["average"] is None else data["average"],
    }
