"""Panels of a webhook's page: its secret (shown once to whoever may change the webhook) and the
delivery log with a replay button per delivery."""

from __future__ import annotations

from typing import Any

from crmcore.errors import CRMError
from flask import render_template
from sqlalchemy import select

from .models import AutomationWebhookAttempt, AutomationWebhookDelivery

#: Deliveries shown on the page, newest first.
LOG_ROWS = 30


def _may_update(records: Any, hook: Any) -> bool:
    entity = records.entity("webhooks")
    return bool(records.access.allows_record(entity, "update", hook, records.session))


def secret_once(hook: Any, user: Any, records: Any) -> str | None:
    """The secret, the first time someone who may change the webhook opens its page."""
    if hook.secret_shown or not _may_update(records, hook):
        return None
    secret = hook.secret
    try:
        records.update("webhooks", hook, {}, internal={"secret_shown": True})
    except CRMError:
        return None
    return render_template("automation/webhook_secret.html", secret=secret)


def delivery_log(hook: Any, user: Any, records: Any) -> str | None:
    """The latest deliveries, each with its attempts."""
    session = records.session
    deliveries = list(
        session.scalars(
            select(AutomationWebhookDelivery)
            .where(AutomationWebhookDelivery.webhook_id == hook.id)
            .order_by(AutomationWebhookDelivery.id.desc())
            .limit(LOG_ROWS)
        )
    )
    attempts: dict[int, list[AutomationWebhookAttempt]] = {}
    if deliveries:
        for attempt in session.scalars(
            select(AutomationWebhookAttempt)
            .where(AutomationWebhookAttempt.delivery_id.in_([d.id for d in deliveries]))
            .order_by(AutomationWebhookAttempt.number)
        ):
            attempts.setdefault(attempt.delivery_id, []).append(attempt)
    return render_template(
        "automation/webhook_log.html",
        hook=hook,
        deliveries=deliveries,
        attempts=attempts,
        can_replay=_may_update(records, hook),
    )
