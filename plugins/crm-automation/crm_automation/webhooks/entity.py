"""The ``webhook`` entity and what the plugin contributes for it (kept here so that
``plugin.py`` stays a list of one-line hooks)."""

from __future__ import annotations

from typing import Any

from crmcore import Entity, Panel, PeriodicJob, RoleGrant
from flask import has_request_context, request

from . import outbox


def webhook_entity() -> Entity:
    """Webhooks: owned records, one per subscription."""
    from .actions import webhook_actions
    from .logic import prepare_webhook
    from .models import AutomationWebhook
    from .schemas import WebhookSchema

    return Entity(
        name="webhook",
        model=AutomationWebhook,
        schema=WebhookSchema,
        plural="webhooks",
        title="Webhook",
        title_fields=("name",),
        search_fields=("name", "url"),
        list_columns=("name", "url", "entities", "events", "active"),
        filter_fields=("active",),
        prepare=prepare_webhook,
        actions=webhook_actions(),
        prefill=_prefill,
    )


def _prefill(args: dict[str, str], records: Any) -> dict[str, Any]:
    """A new webhook's form starts active, on contacts."""
    return {"active": True, "entities": "contacts"}


def webhook_panels() -> list[Panel]:
    """The secret (once) and the delivery log on a webhook's page."""
    from .panels import delivery_log, secret_once

    return [
        Panel("automation-webhook-secret", "Signing secret", "webhook", secret_once, order=5),
        Panel("automation-webhook-log", "Delivery log", "webhook", delivery_log, order=10),
    ]


def webhook_jobs() -> list[PeriodicJob]:
    """The sweep of deliveries whose job was lost."""
    from .delivery import sweep_job

    return [PeriodicJob("webhook_sweep", sweep_job, {"minute": "*"})]


def webhook_grants() -> list[RoleGrant]:
    """Managers keep their own webhooks (admins hold every right already)."""
    own = {"read": "own", "create": "own", "update": "own", "delete": "own"}
    return [RoleGrant("manager", entity="webhooks", actions=own)]


def written(event: Any) -> None:
    """A write passed every veto: note it for the outbox; a webhook's secret made by an API
    call is answered in that call only (it counts as shown)."""
    if event.entity.name == "webhook" and _api_request():
        created = event.action == "create"
        if created or "secret" in event.changes:
            event.record._reveal_secret = True
            event.record.secret_shown = True
    outbox.note(event)


def _api_request() -> bool:
    return has_request_context() and request.path.startswith("/api/")
