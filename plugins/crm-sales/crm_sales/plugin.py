"""The sales plugin: leads, pipelines and deals, products and price lists, quotes (PDF), orders
and shipments, forecast. One small function per hook; the work is in the modules beside it."""

from __future__ import annotations

from typing import Any

from crmcore import (
    DemoContext,
    ExtraField,
    MenuItem,
    Panel,
    Permission,
    Plugin,
    RoleGrant,
    Widget,
    hookimpl,
)

PLUGIN = Plugin(
    name="sales",
    title="Sales",
    version="0.1.0",
    requires=["contacts"],
    core=">=1,<2",
    description="Leads, pipelines and deals, products, quotes as PDF, orders, forecast",
)

_OWN = {"read": "own", "create": "own", "update": "own", "delete": "own"}
_READ = {"read": "all"}


@hookimpl
def crm_entities() -> list[Any]:
    """Leads, pipelines, stages, deals, products, price lists, quotes, orders, shipments."""
    from .entities import entities

    return entities()


@hookimpl
def crm_entity_fields() -> list[ExtraField]:
    """A company's customer group, which picks the price list of its new quotes."""
    return [ExtraField("companies", "customer_group", "Customer group", "text")]


@hookimpl
def crm_role_grants() -> list[RoleGrant]:
    """Sales reps work on their own leads, deals, quotes and orders; read the catalogue."""
    grants = [
        RoleGrant("sales_rep", entity=plural, actions=_OWN)
        for plural in ("leads", "deals", "quotes", "orders", "shipments")
    ]
    grants += [
        RoleGrant("sales_rep", entity=plural, actions=_READ)
        for plural in ("pipelines", "stages", "products", "price_lists")
    ]
    grants.append(RoleGrant("sales_rep", entity="quotas", actions={"read": "own"}))
    grants.append(RoleGrant("manager", permission="sales.settings"))
    return grants


@hookimpl
def crm_permissions() -> list[Permission]:
    """Editing the sales settings (carrier tracking links, the web-to-lead snippet)."""
    return [Permission("sales.settings", "Edit the sales settings")]


@hookimpl
def crm_blueprints() -> list[Any]:
    """The extra API endpoints, the board and the public web-to-lead form."""
    from .api import make_blueprint as api
    from .views import make_blueprint as web
    from .webtolead import make_blueprint as web_to_lead

    return [api(), web(), web_to_lead()]


@hookimpl
def crm_menu_items() -> list[MenuItem]:
    """Leads, deals, the board, quotes, orders, products, shipments, the forecast, quotas and
    the sales settings."""
    return [
        MenuItem("Leads", "/leads", permission="leads.read", order=20),
        MenuItem("Deals", "/deals", permission="deals.read", order=21),
        MenuItem("Board", "/sales/board", permission="deals.read", order=22),
        MenuItem("Quotes", "/quotes", permission="quotes.read", order=23),
        MenuItem("Orders", "/orders", permission="orders.read", order=24),
        MenuItem("Products", "/products", permission="products.read", order=25),
        MenuItem("Shipments", "/shipments", permission="shipments.read", order=26),
        MenuItem("Forecast", "/sales/forecast", permission="deals.read", order=27),
        MenuItem("Quotas", "/quotas", permission="quotas.read", order=28),
        MenuItem("Sales settings", "/sales/settings", permission="sales.settings", order=29),
    ]


@hookimpl
def crm_dashboard_widgets() -> list[Widget]:
    """Pipeline by stage, forecast by period, win rate, sales by owner."""
    from .widgets import widgets

    return widgets()


@hookimpl
def crm_record_panels() -> list[Panel]:
    """Deals, quotes and orders on contact and company pages."""
    from .panels import panels

    return panels()


@hookimpl
def crm_demo_data(ctx: DemoContext) -> None:
    """Products, deals across the stages, quotes and orders for the demo contacts."""
    from .demo import create_demo_data

    create_demo_data(ctx)


@hookimpl
def crm_validate_record(event: Any) -> None:
    """Keep the stage history of deals in the same transaction as the stage change."""
    if event.entity.name == "deal":
        from .deals import track_stage

        track_stage(event)


@hookimpl
def crm_timeline_items(ctx: Any) -> list[Any]:
    """Deals, quotes (sent or drafted) and orders of the contact or company."""
    from . import timeline

    return timeline.items(ctx)


def _follow_shipment(event: Any) -> None:
    if event.entity.name != "shipment":
        return
    from crmcore.permissions import Access

    from .shipments import sync_order_status

    records = event.records.crm.records(Access.system(), event.session)
    sync_order_status(records, event.record.order_id)


@hookimpl
def crm_record_created(event: Any) -> None:
    """A new shipment that left already moves its order's status."""
    _follow_shipment(event)


@hookimpl
def crm_record_updated(event: Any) -> None:
    """A shipment marked shipped or delivered moves its order (partially shipped, shipped,
    delivered)."""
    _follow_shipment(event)
@hookimpl
def crm_person_data(person: Any) -> list[Any]:
    """A person's deals, quotes, orders and shipments: exported, then kept for the figures
    with the person pseudonymised when they are erased."""
    from . import privacy

    return privacy.person_data(person)
