"""The support plugin: tickets, queues, SLAs, mail in and out, the portal and feedback.

Thin by design: each hook hands over to a module of the package.
"""

from __future__ import annotations

from typing import Any

from crmcore import (
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
    name="support",
    title="Support desk",
    version="0.1.0",
    requires=["contacts"],
    core=">=1,<2",
    description="Tickets from mail, web and portal; queues, SLAs and customer feedback.",
)

_AGENT_TICKETS = {"read": "all", "create": "all", "update": "all"}


@hookimpl
def crm_entities() -> list[Any]:
    """Tickets, ticket messages, support queues and SLA policies."""
    from .entities import entities

    return entities()


@hookimpl
def crm_record_actions() -> list[Any]:
    """The "Invite to portal" action on contacts."""
    from .actions import contact_actions

    return list(contact_actions())


@hookimpl
def crm_permissions() -> list[Permission]:
    """Reports, portal invitations and queue mailboxes (the last held by admins only)."""
    return [
        Permission("support.mailboxes", "Change the mailbox settings of support queues"),
        Permission("support.reports", "See support reports"),
        Permission("support.portal_invite", "Invite contacts to the customer portal"),
    ]


@hookimpl
def crm_role_grants() -> list[RoleGrant]:
    """Agents work every ticket; sales reps read those assigned to them; read-only reads."""
    return [
        RoleGrant("support_agent", entity="tickets", actions=_AGENT_TICKETS),
        RoleGrant(
            "support_agent",
            entity="ticket_messages",
            actions={"read": "all", "create": "all", "update": "own"},
        ),
        RoleGrant("support_agent", entity="support_queues", actions={"read": "all"}),
        RoleGrant("support_agent", entity="sla_policies", actions={"read": "all"}),
        RoleGrant("support_agent", entity="canned_responses", actions={"read": "all"}),
        RoleGrant("support_agent", permission="support.reports"),
        RoleGrant("support_agent", permission="support.portal_invite"),
        RoleGrant("manager", permission="support.reports"),
        RoleGrant("manager", permission="support.portal_invite"),
        RoleGrant("sales_rep", entity="tickets", actions={"read": "own"}),
        RoleGrant("read_only", entity="tickets", actions={"read": "all"}),
        RoleGrant("read_only", entity="ticket_messages", actions={"read": "all"}),
    ]


@hookimpl
def crm_blueprints() -> list[Any]:
    """The thread and report API, staff pages, public pages and the portal."""
    from . import api, portal, web

    return [
        api.ticket_blueprint(),
        api.support_blueprint(),
        web.make_blueprint(),
        portal.make_blueprint(),
    ]


@hookimpl
def crm_cli_commands() -> list[Any]:
    """``crm support ingest|fetch-mail|check-sla``."""
    from .cli import support

    return [support]


@hookimpl
def crm_menu_items() -> list[MenuItem]:
    """Tickets and the triage queue; canned responses, queues, SLA policies and business
    hours (the instance settings, for those who may change them)."""
    return [
        MenuItem("Tickets", "/tickets", permission="tickets.read", order=40, group="Support"),
        MenuItem(
            "Queue", "/support/queue", permission="tickets.read", order=41, group="Support"
        ),
        MenuItem(
            "Canned responses",
            "/canned_responses",
            permission="canned_responses.read",
            order=42,
            group="Support",
        ),
        MenuItem(
            "Support queues",
            "/support_queues",
            permission="support_queues.read",
            order=43,
            group="Support",
        ),
        MenuItem(
            "SLA policies",
            "/sla_policies",
            permission="sla_policies.read",
            order=44,
            group="Support",
        ),
        MenuItem(
            "Business hours",
            "/admin/settings",
            permission="settings.manage",
            order=45,
            group="Support",
        ),
    ]


@hookimpl
def crm_dashboard_widgets() -> list[Widget]:
    """Backlog, response times, SLA compliance and satisfaction as charts, in the reader's
    scope."""
    from . import widgets

    return [
        Widget("support-backlog", "Support backlog", widgets.backlog, "support.reports", 50),
        Widget("support-times", "Response times", widgets.response_times, "support.reports", 51),
        Widget("support-sla", "SLA compliance", widgets.sla_compliance, "support.reports", 52),
        Widget(
            "support-satisfaction",
            "Customer satisfaction",
            widgets.satisfaction,
            "support.reports",
            53,
        ),
    ]


@hookimpl
def crm_record_panels() -> list[Panel]:
    """The conversation on a ticket; the tickets of a contact."""
    from . import panels

    return [
        Panel(
            "support-thread",
            "Conversation",
            "ticket",
            panels.ticket_thread,
            order=10,
            replaces=("ticket_messages.ticket_id",),
        ),
        Panel(
            "support-contact-tickets",
            "Support tickets",
            "contact",
            panels.contact_tickets,
            permission="tickets.read",
            order=50,
            replaces=("tickets.contact_id",),
        ),
    ]


@hookimpl
def crm_periodic_jobs() -> list[PeriodicJob]:
    """The SLA check, every five minutes."""
    from .jobs import check_slas

    return [PeriodicJob("sla_check", check_slas, {"minute": "*/5"})]


@hookimpl
def crm_demo_data(ctx: Any) -> None:
    """Queues, SLA policies and a few tickets with threads."""
    from .demo import create_demo

    create_demo(ctx)


@hookimpl
def crm_record_updated(event: Any) -> None:
    """A ticket just solved sends its contact the satisfaction survey."""
    if event.entity.name != "ticket" or event.action != "update":
        return
    before, after = event.changes.get("status", (None, None))
    if after == "solved" and before != "solved" and event.record.merged_into_id is None:
        from .feedback import answered, send_survey

        crm = event.records.crm
        if not answered(event.session, event.record.id):
            send_survey(crm, event.record)


@hookimpl
def crm_timeline_items(ctx: Any) -> list[Any]:
    """Tickets, their messages (internal notes for agents only) and portal sign-ins."""
    from . import timeline

    return timeline.items(ctx)


@hookimpl
def crm_merge_records(entity: Any, winner: Any, loser: Any, session: Any) -> None:
    """Two contacts merged: the loser's messages and portal account move over."""
    from .merging import merge_contacts

    if entity.name == "contact":
        merge_contacts(session, winner.id, loser.id)


@hookimpl
def crm_person_data(person: Any) -> list[Any]:
    """The person's tickets, messages, feedback, portal account and web requests."""
    from . import privacy

    return privacy.person_data(person)
