"""Report pages: the builder (new and edit, with a preview), the report (table, pivot, chart,
drill-down links) and its CSV and XLSX exports. Every read is the signed-in user's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crmcore import CRMError, ValidationError, current_crm
from crmcore.web.i18n import label
from crmcore.web.lines import message_strings
from flask import Blueprint, Response, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from . import export, form, lines, present
from .definition import parse_definition, source_of
from .fields import report_fields
from .models import CHARTS, PIN_RANGES, VISIBILITIES, Report
from .pins import range_names
from .runner import run_definition
from .sharing import get_readable, readable


def _service() -> Any:
    return current_crm().records(g.crm_access)


def _entities(service: Any) -> list[Any]:
    readable = [e for e in service.crm.entities() if service.access.can(e, "read")]
    return sorted(readable, key=lambda e: str(_(e.title_plural)))


def _sources(service: Any) -> list[tuple[str, str]]:
    """The builder's choice of records: each readable entity, then its line lists
    (``orders.lines``, "Orders: lines"), as (value, label)."""
    out: list[tuple[str, str]] = []
    for entity in _entities(service):
        title = str(_(entity.title_plural))
        out.append((entity.plural, title))
        for name in lines.line_lists(entity):
            out.append(
                (
                    f"{entity.plural}.{name}",
                    _("%(records)s: %(list)s", records=title, list=label(name, entity)),
                )
            )
    return out


def _canonical(service: Any, name: str) -> str:
    """The option value of the source ``name`` names (``deal`` -> ``deals``)."""
    try:
        entity, line_source = source_of(service, name)
    except CRMError:
        return name
    return line_source.key if line_source is not None else str(entity.plural)


def _teams(service: Any) -> list[Any]:
    if not service.access.can("teams", "read"):
        return []
    return list(service.session.scalars(service.query("teams")))


def _roles(service: Any) -> list[Any]:
    if not service.access.can("roles", "read"):
        return []
    return list(service.session.scalars(service.query("roles")))


def _field_hint(service: Any, entity_name: str) -> list[str]:
    try:
        entity, line_source = source_of(service, entity_name)
    except CRMError:
        return []
    found = sorted(report_fields(service, entity))
    if line_source is not None:
        found = [f"{lines.LINE}.{name}" for name in line_source.fields] + found
    return found


def _run(service: Any, definition: dict[str, Any]) -> dict[str, Any]:
    return run_definition(service, parse_definition(service, definition))


def _builder(
    service: Any,
    values: dict[str, str],
    errors: dict[str, list[str]],
    result: dict[str, Any] | None,
    report: Any = None,
    status: int = 200,
) -> Any:
    return render_template(
        "insights/report_form.html",
        values=values,
        errors=errors,
        result=result,
        report=report,
        sources=_sources(service),
        selected_source=_canonical(service, values.get("entity", "")),
        teams=_teams(service),
        roles=_roles(service),
        charts=CHARTS,
        visibilities=VISIBILITIES,
        pin_ranges=PIN_RANGES,
        range_names=range_names(),
        field_hint=_field_hint(service, values.get("entity", "")),
        present=present,
    ), status


def _record_data(values: dict[str, str], definition: dict[str, Any]) -> dict[str, Any]:
    def as_id(name: str) -> int | None:
        text = values.get(name, "").strip()
        return int(text) if text.isdigit() and len(text) < 12 else None

    return {
        "name": values.get("name", "").strip(),
        "definition": definition,
        "chart": values.get("chart") or "table",
        "visibility": values.get("visibility") or "private",
        "team_id": as_id("team_id"),
        "role_id": as_id("role_id"),
        "pinned": values.get("pinned") == "on",
        "pin_range": values.get("pin_range") or None,
        "pin_field": values.get("pin_field", "").strip() or None,
        "pin_from": values.get("pin_from") or None,
        "pin_to": values.get("pin_to") or None,
        "schedule": values.get("schedule") or None,
        "recipients": [r.strip() for r in values.get("recipients", "").split(",") if r.strip()],
    }


def _named_recipients(messages: Any, recipients: list[str]) -> dict[str, list[str]]:
    """The save's errors with each refused recipient (``recipients.1``, or the schema's
    ``{"recipients": {1: [...]}}``) named by its address, translated here since the message
    then carries data."""

    def named(index: Any, texts: Any) -> list[str]:
        position = int(index) if str(index).isdigit() else -1
        if not 0 <= position < len(recipients):
            return [str(t) for t in message_strings(texts)]
        address = recipients[position]
        return [
            _("%(address)s: %(message)s", address=address, message=_(str(t)))
            for t in message_strings(texts)
        ]

    out: dict[str, list[str]] = {}
    for part, texts in messages.items():
        head, _dot, index = str(part).partition(".")
        if head == "recipients" and index:
            out.setdefault(head, []).extend(named(index, texts))
        elif head == "recipients" and isinstance(texts, Mapping):
            for key, inner in texts.items():
                out.setdefault(head, []).extend(named(key, inner))
        else:
            out[str(part)] = list(message_strings(texts))
    return out


def make_blueprint() -> Blueprint:
    """The report pages under ``/insights/reports``."""
    bp = Blueprint(
        "insights_reports", __name__, url_prefix="/insights/reports", template_folder="../templates"
    )

    @bp.route("")
    def index() -> Any:
        service = _service()
        found = service.session.scalars(readable(service).order_by(Report.name).limit(500))
        return render_template(
            "insights/reports.html",
            reports=list(found),
            can_create=service.access.can("reports", "create"),
            user_id=service.access.user_id,
        )

    @bp.route("/new", methods=["GET", "POST"])
    def new() -> Any:
        service = _service()
        service.query("reports", "create")  # 403 without the right to save reports
        if request.method == "GET":
            values = {
                "entity": request.args.get("entity", "")[:100],
                "measures": "count",
                "limit": "500",
                "visibility": "private",
                "chart": "table",
            }
            return _builder(service, values, {}, None)
        return _submit(service, None)

    @bp.route("/<int:report_id>/edit", methods=["GET", "POST"])
    def edit(report_id: int) -> Any:
        service = _service()
        report = service.get("reports", report_id, "update")
        if request.method == "GET":
            values = {
                **form.to_form(report.definition),
                "name": report.name,
                "chart": report.chart,
                "visibility": report.visibility,
                "team_id": str(report.team_id or ""),
                "role_id": str(report.role_id or ""),
                "pinned": "on" if report.pinned else "",
                "pin_range": report.pin_range or "",
                "pin_field": report.pin_field or "",
                "pin_from": report.pin_from.isoformat() if report.pin_from else "",
                "pin_to": report.pin_to.isoformat() if report.pin_to else "",
                "schedule": report.schedule or "",
                "recipients": ", ".join(report.recipients or []),
            }
            return _builder(service, values, {}, None, report)
        return _submit(service, report)

    def _submit(service: Any, report: Any) -> Any:
        values = {k: request.form.get(k, "")[:2000] for k in form.FIELDS}
        definition = form.to_definition(values)
        result = None
        try:
            result = _run(service, definition)
        except ValidationError as exc:
            return _builder(service, values, form.field_errors(exc.messages), None, report, 422)
        if request.form.get("action") != "save":
            return _builder(service, values, {}, result, report)
        data = _record_data(values, definition)
        try:
            if report is None:
                report = service.create("reports", data)
            else:
                report = service.update("reports", report, data)
        except ValidationError as exc:
            errors = form.field_errors(_named_recipients(exc.messages, data["recipients"]))
            return _builder(service, values, errors, result, report, 422)
        flash(_("Report saved."), "success")
        return redirect(url_for("insights_reports.show", report_id=report.id), 303)

    @bp.route("/<int:report_id>")
    def show(report_id: int) -> Any:
        service = _service()
        report = get_readable(service, report_id)
        view = request.args.get("view", report.chart)
        view = view if view in CHARTS else "table"
        error = None
        result = None
        try:
            result = _run(service, report.definition)
        except ValidationError as exc:
            error = form.field_errors(exc.messages)
        can_edit = service.access.allows_record(
            service.entity("reports"), "update", report, service.session
        )
        return render_template(
            "insights/report.html",
            report=report,
            result=result,
            error=error,
            view=view,
            charts=CHARTS,
            chart=present.chart(result, view) if result and view in present.CHART_TYPES else None,
            pivot=present.pivot(result) if result else None,
            present=present,
            can_edit=can_edit,
        )

    @bp.route("/<int:report_id>/export.<fmt>")
    def export_file(report_id: int, fmt: str) -> Any:
        service = _service()
        report = get_readable(service, report_id)
        if fmt not in ("csv", "xlsx"):
            return Response(status=404)
        result = _run(service, report.definition)
        filename = f"report-{report.id}.{fmt}"
        disposition = {"Content-Disposition": f'attachment; filename="{filename}"'}
        if fmt == "csv":
            return Response(export.to_csv(result), mimetype="text/csv", headers=disposition)
        return Response(
            export.to_xlsx(result, report.name),
            mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers=disposition,
        )

    return bp
