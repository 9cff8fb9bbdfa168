"""The insights plugin: ``PLUGIN`` and its hooks. Thin on purpose: each hook returns what the
modules beside it define."""

from __future__ import annotations

from typing import Any

from crmcore import ExtraField, MenuItem, Panel, PeriodicJob, Plugin, hookimpl

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
def crm_entity_fields() -> list[ExtraField]:
    """RFM segment, score code and lifetime value on contacts, for filters and segments."""
    from .analysis.rfm import SEGMENTS

    return [
        ExtraField("contacts", "rfm_segment", "RFM segment", "choice", SEGMENTS),
        ExtraField("contacts", "rfm_score", "RFM score", "text"),
        ExtraField("contacts", "lifetime_value", "Lifetime value", "number"),
    ]


@hookimpl
def crm_blueprints() -> list[Any]:
    """The customer analysis pages and the call list."""
    from .analysis.prediction_pages import make_blueprint as models
    from .analysis.views import make_blueprint, make_calls_blueprint

    return [make_blueprint(), make_calls_blueprint(), models()]


@hookimpl
def crm_menu_items() -> list[MenuItem]:
    """Customer segments, cohorts and the call list."""
    return [
        MenuItem("Customer segments", "/insights/customers/", permission="contacts.read", order=60),
        MenuItem(
            "Cohort retention", "/insights/customers/cohorts", permission="orders.read", order=61
        ),
        MenuItem("Call list", "/insights/calls/", permission="tasks.read", order=62),
        MenuItem("Prediction models", "/insights/models/", permission="deals.read", order=63),
    ]


@hookimpl
def crm_record_panels() -> list[Panel]:
    """Customer value and offers on contacts, "also bought" on products, win probability on
    deals."""
    from .analysis.panels import panels
    from .analysis.prediction_pages import panels as prediction_panels

    return [*panels(), *prediction_panels()]


@hookimpl
def crm_periodic_jobs() -> list[PeriodicJob]:
    """The nightly customer scoring."""
    from .analysis.jobs import periodic_jobs

    return periodic_jobs()
