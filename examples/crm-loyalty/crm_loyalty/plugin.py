"""The loyalty plugin: hooks only; the work is in ``ledger``.

It works with or without crm-sales: points for paid orders are awarded only while the sales
plugin is enabled, and the plugin does not ``require`` it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crmcore import MenuItem, Panel, Plugin, RoleGrant, Widget, hookimpl

if TYPE_CHECKING:
    from crmcore import Entity, RecordAction

# The hooks import the plugin's modules when called: `crm --help` imports this module to find
# the plugin's commands, and should not pay for SQLAlchemy models to do so.

PLUGIN = Plugin(
    name="loyalty",
    title="Loyalty points",
    version="0.1.0",
    core=">=1.0,<2",
    description="Loyalty points per contact, awarded when sales orders are paid "
    "(1 point per currency unit by default, [loyalty] points_per_unit in crm.toml).",
)


@hookimpl
def crm_entities() -> list[Entity]:
    """The ledger of points."""
    from crmcore import Entity

    from . import ledger
    from .models import LoyaltyEntry
    from .schemas import LoyaltyEntrySchema

    return [
        Entity(
            name="loyalty_entry",
            model=LoyaltyEntry,
            schema=LoyaltyEntrySchema,
            plural=ledger.PLURAL,
            title="Loyalty entry",
            title_plural="Loyalty entries",
            title_fields=("reason",),
            search_fields=("reason",),
            list_columns=("contact_id", "points", "reason", "order_id"),
            owner_field=None,
            prepare=ledger.prepare,
        )
    ]


@hookimpl
def crm_record_actions() -> list[RecordAction]:
    """The contact page's "Give points", for users who may write the ledger."""
    from . import actions

    return actions.contact_actions()


@hookimpl
def crm_role_grants() -> list[RoleGrant]:
    """Sales reps and support agents see balances; managers and admins do everything."""
    from . import ledger

    return [
        RoleGrant("sales_rep", entity=ledger.PLURAL, actions={"read": "all"}),
        RoleGrant("support_agent", entity=ledger.PLURAL, actions={"read": "all"}),
    ]


@hookimpl
def crm_record_panels() -> list[Panel]:
    """The balance on the contact page."""
    from . import ledger

    return [
        Panel(
            "loyalty_balance",
            "Loyalty points",
            entity="contact",
            render=ledger.contact_panel,
            permission=f"{ledger.PLURAL}.read",
        )
    ]


@hookimpl
def crm_dashboard_widgets() -> list[Widget]:
    """Top contacts by points, among those the user may read."""
    from . import ledger

    return [
        Widget(
            "loyalty_top",
            "Top loyalty contacts",
            render=ledger.top_contacts,
            permission=f"{ledger.PLURAL}.read",
        )
    ]


@hookimpl
def crm_menu_items() -> list[MenuItem]:
    """The ledger, for users who may read it."""
    from . import ledger

    return [MenuItem("Loyalty", f"/{ledger.PLURAL}", permission=f"{ledger.PLURAL}.read")]


@hookimpl
def crm_record_created(event: Any) -> None:
    """An order created already paid earns points (with sales enabled)."""
    from . import ledger

    ledger.award_for_order(event)


@hookimpl
def crm_record_updated(event: Any) -> None:
    """An order whose status becomes ``paid`` earns points (with sales enabled)."""
    from . import ledger

    ledger.award_for_order(event)


@hookimpl
def crm_demo_data(ctx: Any) -> None:
    """Welcome points for some demo contacts (``crm init --demo``, ``crm demo``)."""
    from . import ledger

    ledger.demo(ctx)
