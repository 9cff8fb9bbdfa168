"""The marketing plugin: segments, templates, e-mail and direct-mail campaigns, sending,
tracking, consent and attribution.

Thin by design: each hook hands over to a module of the package.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from crmcore import (
    ExtraField,
    MenuItem,
    Panel,
    PeriodicJob,
    Permission,
    Plugin,
    RoleGrant,
    Widget,
    hookimpl,
)

PLUGIN = Plugin(
    name="marketing",
    title="Marketing",
    version="0.1.0",
    requires=["contacts"],
    core=">=1,<2",
    description="Segments, e-mail and direct-mail campaigns, tracking, consent and attribution.",
)

_MANAGE = {"read": "all", "create": "all", "update": "all", "delete": "all"}


@hookimpl
def crm_entities() -> list[Any]:
    """Segments, e-mail templates and campaigns."""
    from .entities import entities

    return entities()


@hookimpl
def crm_entity_fields() -> list[ExtraField]:
    """The campaign that brought a lead or a deal (used when crm-sales is enabled)."""
    return [
        ExtraField("lead", "campaign_id", "Campaign", "number"),
        ExtraField("deal", "campaign_id", "Campaign", "number"),
    ]


@hookimpl
def crm_permissions() -> list[Permission]:
    """Sending campaigns and reading their results are separate from editing them."""
    return [
        Permission("marketing.send", "Send or schedule campaigns"),
        Permission("marketing.results", "See campaign results"),
    ]


@hookimpl
def crm_role_grants() -> list[RoleGrant]:
    """Marketers do everything, and read sales records when crm-sales is installed; managers
    see results; read-only reads."""
    grants = [
        RoleGrant("marketer", entity=plural, actions=_MANAGE)
        for plural in ("segments", "email_templates", "campaigns")
    ]
    # with crm-sales: purchase-history segments and attribution read sales records
    grants += [
        RoleGrant("marketer", entity=plural, actions={"read": "all"})
        for plural in ("leads", "deals", "orders", "products")
    ]
    grants += [
        RoleGrant("marketer", permission="marketing.send"),
        RoleGrant("marketer", permission="marketing.results"),
        RoleGrant("manager", permission="marketing.results"),
    ]
    grants += [
        RoleGrant(role, entity=plural, actions={"read": "all"})
        for role in ("manager", "read_only")
        for plural in ("segments", "email_templates", "campaigns")
    ]
    return grants


@hookimpl
def crm_blueprints() -> list[Any]:
    """The API (segments, templates, sending, results), staff pages and public pages."""
    from . import api, public, web

    return [*api.blueprints(), public.make_blueprint(), web.make_blueprint()]


@hookimpl
def crm_cli_commands() -> list[Any]:
    """``crm marketing ...``: bounces, list import, resuming sends."""
    from .cli import marketing

    return [marketing]


@hookimpl
def crm_menu_items() -> list[MenuItem]:
    """Campaigns, segments and templates."""
    return [
        MenuItem("Campaigns", "/campaigns", permission="campaigns.read", order=50),
        MenuItem(
            "New campaign", "/marketing/campaigns/wizard", permission="campaigns.read", order=50
        ),
        MenuItem("Segments", "/segments", permission="segments.read", order=51),
        MenuItem(
            "Segment builder",
            "/marketing/segments/build",
            permission="segments.read",
            order=51,
        ),
        MenuItem(
            "E-mail templates", "/email_templates", permission="email_templates.read", order=52
        ),
    ]


@hookimpl
def crm_dashboard_widgets() -> list[Widget]:
    """Campaign results and the revenue campaigns brought."""
    from .widgets import widgets

    return widgets()


@hookimpl
def crm_record_panels() -> list[Panel]:
    """Results and sending on a campaign, members on a segment, campaigns on a contact."""
    from .panels import panels

    return panels()


@hookimpl
def crm_periodic_jobs() -> list[PeriodicJob]:
    """Start scheduled campaigns and resume sends whose worker died."""
    from .sending import tick

    return [PeriodicJob("send_tick", tick, {"minute": "*"})]


@hookimpl
def crm_demo_data(ctx: Any) -> None:
    """Segments, a template and a sent campaign with results."""
    from .demo import create_demo

    create_demo(ctx)


@hookimpl
def crm_validate_record(event: Any) -> None:
    """Leads and deals name an existing campaign; a lead's source ``campaign:<id>`` sets it."""
    _check_attribution()(event)


@functools.cache
def _check_attribution() -> Callable[[Any], None]:
    """``results.check_attribution``, imported at its first use and not again at each of the
    records the hook is called for (an import's too)."""
    from .results import check_attribution

    return check_attribution


@hookimpl
def crm_contact_unsubscribed(event: Any) -> None:
    """An unsubscribe through the core's link of one of our messages marks its recipient."""
    from .public import recipient_unsubscribed

    recipient_unsubscribed(event)


@hookimpl
def crm_record_updated(event: Any) -> None:
    """A converted lead's campaign goes to its new deal."""
    from .results import carry_attribution

    carry_attribution(event)


@hookimpl
def crm_timeline_items(ctx: Any) -> list[Any]:
    """Campaign e-mails sent to the contact, with opens, clicks and unsubscribes."""
    from . import timeline

    return timeline.items(ctx)


@hookimpl
def crm_merge_records(entity: Any, winner: Any, loser: Any, session: Any) -> None:
    """Two contacts merged: the loser's segment memberships and campaign sends move over."""
    from .merging import merge_contacts

    if entity.name == "contact":
        merge_contacts(session, winner.id, loser.id)


@hookimpl
def crm_person_data(person: Any) -> list[Any]:
    """The person's campaign sends and their events, segment memberships and bounces."""
    from . import privacy

    return privacy.person_data(person)
