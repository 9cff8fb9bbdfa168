"""The panel on a saved report's record page: links to its result and its builder."""

from __future__ import annotations

from typing import Any

from flask import url_for
from flask_babel import gettext as _
from markupsafe import Markup, escape


def open_report(record: Any, user: Any, records: Any) -> str | None:
    """Links to the report page and, for those who may change it, to the builder."""
    links = [(url_for("insights_reports.show", report_id=record.id), _("Open the report"))]
    if records.access.allows_record(records.entity("reports"), "update", record, records.session):
        links.append((url_for("insights_reports.edit", report_id=record.id), _("Edit the report")))
    items = "".join(f'<li><a href="{escape(u)}">{escape(t)}</a></li>' for u, t in links)
    return str(Markup(f"<ul>{items}</ul>"))
