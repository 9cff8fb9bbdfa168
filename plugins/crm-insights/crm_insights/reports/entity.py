"""The ``report`` entity: saved report definitions, private or shared."""

from __future__ import annotations

from typing import Any


def report_entity() -> Any:
    """The registry entry of saved reports."""
    from crmcore import Entity

    from .models import Report
    from .schemas import ReportSchema
    from .sharing import prepare_report

    return Entity(
        name="report",
        model=Report,
        schema=ReportSchema,
        plural="reports",
        title="Report",
        title_fields=("name",),
        search_fields=("name", "description"),
        list_columns=("name", "chart", "visibility", "owner_id"),
        filter_fields=("team_id", "role_id"),
        prepare=prepare_report,
        editor_url="/insights/reports",  # the report builder: the generated form cannot be
    )
