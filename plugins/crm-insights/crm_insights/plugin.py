"""The insights plugin: ``PLUGIN`` and its hooks. Thin on purpose: each hook returns what the
modules beside it define."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crmcore import (
    ExtraField,
    MenuItem,
    Panel,
    PeriodicJob,
    Plugin,
    RoleGrant,
    Widget,
    hookimpl,
)

if TYPE_CHECKING:
    from crmcore import Entity

PLUGIN = Plugin(
    name="insights",
    title="Insights",
    version="0.1.0",
    requires=["contacts"],
    core=">=1,<2",
    description=(
        "A report builder over every entity, scheduled reports and predictions from customer "
        "history."
    ),
)


@hookimpl
def crm_entities() -> list[Entity]:
    """Saved reports."""
    from .reports.entity import report_entity
    from .rollups import models  # noqa: F401  (its tables join the metadata)

    return [report_entity()]


@hookimpl
def crm_role_grants() -> list[RoleGrant]:
    """Everyone builds their own reports; managers (every entity, all scope) see them all."""
    own = {"read": "own", "create": "own", "update": "own", "delete": "own"}
    return [
        RoleGrant(role, entity="reports", actions=own)
        for role in ("sales_rep", "support_agent", "marketer")
    ]


@hookimpl
def crm_entity_fields() -> list[ExtraField]:
    """RFM segment, score code, lifetime value, churn risk and purchase propensity on contacts,
    win probability on deals and conversion probability on leads, for filters, segments,
    automation and reports."""
    from .analysis.rfm import SEGMENTS

    return [
        ExtraField("contacts", "rfm_segment", "RFM segment", "choice", SEGMENTS),
        ExtraField("contacts", "rfm_score", "RFM score", "text"),
        ExtraField("contacts", "lifetime_value", "Lifetime value", "number"),
        ExtraField("contacts", "churn_risk", "Churn risk", "number"),
        ExtraField("contacts", "purchase_propensity", "Purchase propensity", "number"),
        ExtraField("deals", "win_probability", "Win probability", "number"),
        ExtraField("leads", "conversion_probability", "Conversion probability", "number"),
    ]


@hookimpl
def crm_blueprints() -> list[Any]:
    """The report API (run ad hoc or saved), the report pages, the customer analysis pages,
    the call list and the prediction models."""
    from .analysis.prediction_pages import make_blueprint as models
    from .analysis.views import make_blueprint, make_calls_blueprint
    from .reports import api, views

    return [
        api.make_blueprint(),
        views.make_blueprint(),
        make_blueprint(),
        make_calls_blueprint(),
        models(),
    ]


@hookimpl
def crm_menu_items() -> list[MenuItem]:
    """Saved reports and the builder."""
    return [
        MenuItem("Customer segments", "/insights/customers/", permission="contacts.read", order=60),
        MenuItem(
            "Cohort retention", "/insights/customers/cohorts", permission="orders.read", order=61
        ),
        MenuItem("Call list", "/insights/calls/", permission="tasks.read", order=62),
        MenuItem("Prediction models", "/insights/models/", permission="deals.read", order=63),
        MenuItem("Reports", "/insights/reports", order=80),
        MenuItem("New report", "/insights/reports/new", permission="reports.create", order=81),
    ]


@hookimpl
def crm_record_panels() -> list[Panel]:
    """On a saved report's record page, the way to its result; customer value and offers on
    contacts, "also bought" on products, win probability on deals, purchase propensity and
    churn risk on contacts."""
    from .analysis.panels import panels
    from .analysis.prediction_pages import panels as prediction_panels
    from .reports.panels import open_report

    return [
        Panel("insights-report", "Result", "report", open_report, order=10),
        *panels(),
        *prediction_panels(),
    ]


@hookimpl
def crm_dashboard_widgets() -> list[Widget]:
    """The reports a user pinned to the dashboard."""
    from .reports.pins import widget

    return [
        Widget("insights-pinned", "Pinned reports", widget, permission="reports.read", order=90)
    ]


@hookimpl
def crm_periodic_jobs() -> list[PeriodicJob]:
    """Scheduled reports, checked every hour; the nightly customer scoring; the nightly
    rollup check (05:15)."""
    from .analysis.jobs import periodic_jobs
    from .reports.schedule import scheduled_reports_job
    from .rollups.manage import nightly

    return [
        PeriodicJob("insights_scheduled_reports", scheduled_reports_job, {"minute": "0"}),
        PeriodicJob("insights_rollups", nightly, {"minute": "15", "hour": "5"}),
        *periodic_jobs(),
    ]


@hookimpl
def crm_cli_commands() -> list[Any]:
    """``crm insights export``: the analytics export for a data warehouse."""
    from .cli import insights

    return [insights]


@hookimpl
def crm_records_written(events: list[Any]) -> None:
    """Keep the rollups of the written entity current, in the writes' transaction."""
    from .rollups import records_written

    records_written(events)


@hookimpl
def crm_record_created(event: Any) -> None:
    """A saved report whose definition fits a rollup gets one, made in the background."""
    _report_saved(event)


@hookimpl
def crm_record_updated(event: Any) -> None:
    """A report changed to a definition that fits a rollup gets one, made in the background."""
    _report_saved(event)


def _report_saved(event: Any) -> None:
    if event.entity.name == "report":
        from .rollups.manage import report_saved

        report_saved(event.records.crm, event.record)


@hookimpl
def crm_person_data(person: Any) -> list[Any]:
    """The scores and calling hours of a person's contacts (deleted when they are erased)."""
    from .analysis.privacy import person_data

    return person_data(person)
