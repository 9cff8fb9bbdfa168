"""The automation plugin: ``PLUGIN`` and its hooks. Thin on purpose: each hook returns what the
modules beside it define."""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from crmcore import MenuItem, Panel, PeriodicJob, Plugin, RoleGrant, hookimpl

if TYPE_CHECKING:
    from crmcore import Entity
    from crmcore.records import RecordEvent

PLUGIN = Plugin(
    name="automation",
    title="Automation",
    version="0.1.0",
    requires=["contacts"],
    core=">=1,<2",
    description="Workflow rules, scheduled alerts, message sequences and signed webhooks.",
)


# webhooks -------------------------------------------------------------------------------------


@hookimpl
def crm_entities() -> list[Entity]:
    """Webhooks."""
    from .webhooks.entity import webhook_entity

    return [webhook_entity()]


@hookimpl
def crm_blueprints() -> list[Any]:
    """The webhook panels' templates."""
    from .webhooks.views import make_blueprint

    return [make_blueprint()]


@hookimpl
def crm_role_grants() -> list[RoleGrant]:
    """Managers keep their own webhooks."""
    from .webhooks.entity import webhook_grants

    return webhook_grants()


@hookimpl
def crm_menu_items() -> list[MenuItem]:
    """Webhooks, for those who may read them."""
    return [MenuItem("Webhooks", "/webhooks", permission="webhooks.read", order=80)]


@hookimpl
def crm_record_panels() -> list[Panel]:
    """A webhook's secret (once) and its delivery log."""
    from .webhooks.entity import webhook_panels

    return webhook_panels()


@hookimpl
def crm_periodic_jobs() -> list[PeriodicJob]:
    """The sweep of webhook deliveries whose job was lost."""
    from .webhooks.entity import webhook_jobs

    return webhook_jobs()


@hookimpl(wrapper=True)
def crm_validate_record(event: RecordEvent) -> Generator[None, None, None]:
    """Around every veto: a write that all of them let through gets its webhook deliveries
    in the same transaction."""
    result = yield
    from .webhooks.entity import written

    written(event)
    return result
