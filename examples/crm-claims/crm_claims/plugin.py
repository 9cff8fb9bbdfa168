"""The claims plugin: ``PLUGIN`` and its hooks. Keep this module thin and light to import.

An example of a third-party plugin (crm-loyalty is the other): an entity with references to
core records, record actions gated by a permission the plugin declares, and a write that only
that permission allows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crmcore import MenuItem, Permission, Plugin, RoleGrant, hookimpl

if TYPE_CHECKING:  # `crm --help` imports this module: keep SQLAlchemy and marshmallow out
    from crmcore import Entity

PLUGIN = Plugin(
    name="claims",
    title="Warranty claims",
    version="0.1.0",
    requires=["contacts"],
    core=">=1.0,<2",
    description="Warranty claims of customers, approved or rejected by managers.",
)


@hookimpl
def crm_entities() -> list[Entity]:
    """The claim: the core derives its API, pages, permissions, audit, search and trash."""
    from crmcore import Entity

    from .actions import actions, prepare_claim
    from .models import Claim
    from .schemas import ClaimSchema

    return [
        Entity(
            name="claim",
            model=Claim,
            schema=ClaimSchema,
            plural="claims",
            title="Claim",
            title_fields=("title",),
            search_fields=("title", "description"),
            list_columns=("title", "contact_id", "amount", "status", "owner_id"),
            filter_fields=("status",),
            prepare=prepare_claim,
            actions=actions(),
        )
    ]


@hookimpl
def crm_permissions() -> list[Permission]:
    """Deciding on claims is a permission of its own, which roles grant or not."""
    return [Permission("claims.decide", "Approve and reject warranty claims")]


@hookimpl
def crm_role_grants() -> list[RoleGrant]:
    """Reps file claims for their customers; managers see every claim and decide."""
    own = {"read": "own", "create": "own", "update": "own"}
    return [
        RoleGrant("sales_rep", entity="claims", actions=own),
        RoleGrant("support_agent", entity="claims", actions={**own, "read": "all"}),
        RoleGrant("manager", entity="claims", actions={"read": "all", "update": "all"}),
        RoleGrant("manager", permission="claims.decide"),
    ]


@hookimpl
def crm_menu_items() -> list[MenuItem]:
    """The list of claims, for users who may read them."""
    return [MenuItem("Claims", "/claims", permission="claims.read", order=500)]
