"""The automation plugin: ``PLUGIN`` and its hooks. Thin on purpose: each hook returns what the
modules beside it define."""

from __future__ import annotations

import functools
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

from crmcore import MenuItem, Panel, PeriodicJob, Permission, Plugin, RoleGrant, hookimpl

if TYPE_CHECKING:
    from crmcore import Entity
    from crmcore.records import RecordEvent

    from .actions_catalog import ActionType
    from .triggers import TriggerType

PLUGIN = Plugin(
    name="automation",
    title="Automation",
    version="0.1.0",
    requires=["contacts"],
    core=">=1,<2",
    description="Workflow rules, scheduled alerts, message sequences and signed webhooks.",
)


@hookimpl
def crm_entities() -> list[Entity]:
    """Workflow rules and webhooks."""
    from crmcore import Entity

    from .models import AutomationWorkflow
    from .rules import WorkflowSchema, prepare_workflow
    from .webhooks.entity import webhook_entity

    return [
        Entity(
            name="workflow",
            model=AutomationWorkflow,
            schema=WorkflowSchema,
            plural="workflows",
            title="Workflow",
            title_fields=("name",),
            search_fields=("name", "description"),
            list_columns=("name", "entity", "active", "system", "owner_id"),
            prepare=prepare_workflow,
            editor_url="/automation/rules",  # the rule builder: the generated form cannot be
        ),
        webhook_entity(),
    ]


@hookimpl
def crm_permissions() -> list[Permission]:
    """System rules run with the system's rights: only administrators make them."""
    return [Permission("automation.system", "Create and change system workflow rules")]


@hookimpl
def crm_role_grants() -> list[RoleGrant]:
    """Everyone may automate their own records; managers see every rule and keep their own
    webhooks."""
    from .webhooks.entity import webhook_grants

    own = {"read": "own", "create": "own", "update": "own", "delete": "own"}
    return [*webhook_grants(),
        RoleGrant("sales_rep", entity="workflows", actions=own),
        RoleGrant("support_agent", entity="workflows", actions=own),
        RoleGrant("manager", entity="workflows",
                  actions={"read": "all", "create": "own", "update": "all", "delete": "all"}),
    ]  # fmt: skip


@hookimpl
def crm_menu_items() -> list[MenuItem]:
    """The rules and their builder; webhooks."""
    return [
        MenuItem("Workflows", "/automation/rules", permission="workflows.read", order=80),
        MenuItem("Webhooks", "/webhooks", permission="webhooks.read", order=81),
    ]


@hookimpl
def crm_record_panels() -> list[Panel]:
    """On a rule's page: links to its builder and its run history; on a webhook's page: its
    secret (once) and its delivery log."""
    from .views import rule_panel
    from .webhooks.entity import webhook_panels

    return [
        Panel("automation-rule", "Rule builder", "workflow", rule_panel, order=5),
        *webhook_panels(),
    ]


@hookimpl
def crm_blueprints() -> list[Any]:
    """The pages: rules, the rule builder, run history and dry run; the webhook panels."""
    from .incoming_views import make_blueprint as make_hooks_blueprint
    from .views import make_blueprint
    from .webhooks.views import make_blueprint as make_webhooks_blueprint

    return [make_blueprint(), make_webhooks_blueprint(), make_hooks_blueprint()]


@hookimpl
def crm_automation_triggers() -> list[TriggerType]:
    """The built-in triggers: record events, field changes and record actions."""
    from .triggers import builtin_triggers

    return builtin_triggers()


@hookimpl
def crm_automation_actions() -> list[ActionType]:
    """The built-in actions."""
    from .actions_catalog import builtin_actions

    return builtin_actions()


@hookimpl
def crm_record_created(event: Any) -> None:
    """Fire the rules whose trigger a new record matches."""
    _on_event()(event)


@hookimpl
def crm_record_updated(event: Any) -> None:
    """Fire the rules whose trigger a change (or a restore) matches."""
    _on_event()(event)


@hookimpl
def crm_record_deleted(event: Any) -> None:
    """Fire the rules on records moved to the trash."""
    _on_event()(event)


@functools.cache
def _on_event() -> Callable[[Any], None]:
    """``engine.on_event``, imported at its first use and not again at each record event (an
    import fires one per record)."""
    from .engine import on_event

    return on_event


@hookimpl
def crm_record_action_performed(event: Any) -> None:
    """Fire the rules on a record action performed (a lead converted)."""
    from .engine import on_action

    on_action(event)


@hookimpl
def crm_timeline_items(ctx: Any) -> list[Any]:
    """The rules that ran on the record."""
    from .history import timeline_items

    return timeline_items(ctx)


@hookimpl
def crm_periodic_jobs() -> list[PeriodicJob]:
    """Fire time-based rules (every five minutes); forget runs past the retention (daily);
    send webhook deliveries whose job was lost (every minute)."""
    from .engine import recover_job
    from .history import purge_job
    from .schedules import fire_due_job
    from .webhooks.entity import webhook_jobs

    return [
        PeriodicJob("purge_runs", purge_job, {"minute": "17", "hour": "3"}),
        PeriodicJob("time_rules", fire_due_job, {"minute": "*/5"}),
        PeriodicJob("recover_runs", recover_job, {"minute": "*/5"}),
        *webhook_jobs(),
    ]


@hookimpl
def crm_cli_commands() -> list[Any]:
    """``crm automation list | run RULE [--dry-run] | history RULE``."""
    from .cli import automation

    return [automation]


@hookimpl(wrapper=True)
def crm_validate_record(event: RecordEvent) -> Generator[None, None, None]:
    """Around every veto: a write that all of them let through gets its webhook deliveries
    in the same transaction."""
    result = yield
    _written()(event)
    return result


@functools.cache
def _written() -> Callable[[RecordEvent], None]:
    """``webhooks.entity.written``, imported at its first use and not again at each of the
    records the hook is called for (an import's too)."""
    from .webhooks.entity import written

    return written


@hookimpl
def crm_person_data(person: Any) -> list[Any]:
    """A person's webhook deliveries (deleted, pending ones included, when they are erased) and
    the run history naming them (pseudonymised)."""
    from .privacy import person_data

    return person_data(person)
