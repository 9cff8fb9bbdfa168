"""Record actions of a webhook: rotate its secret, replay one delivery."""

from __future__ import annotations

from typing import Any

from crmcore.actions import ActionResult, RecordAction
from crmcore.errors import ValidationError
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from . import signing
from .delivery import replay
from .models import AutomationWebhookDelivery


class ReplayInput(Schema):
    delivery = fields.String(
        required=True,
        validate=validate.Length(1, 36),
        metadata={"label": "Delivery id"},
    )


def _rotate(records: Any, hook: Any, data: dict[str, Any]) -> ActionResult:
    """A new secret; the old one stops signing at once. Answered once (here, or on the page)."""
    secret = signing.new_secret()
    records.update("webhooks", hook, {}, internal={"secret": secret, "secret_shown": False})
    return ActionResult(
        data={"id": hook.id, "signing_secret": secret},
        message="New secret made: copy it from the webhook's page now, it is shown once.",
    )


def _replay(records: Any, hook: Any, data: dict[str, Any]) -> ActionResult:
    """Send one delivery's event again, as a new delivery (new delivery id, same event id)."""
    delivery = records.session.scalar(
        select(AutomationWebhookDelivery).where(
            AutomationWebhookDelivery.webhook_id == hook.id,
            AutomationWebhookDelivery.delivery_id == data["delivery"].strip(),
        )
    )
    if delivery is None:
        raise ValidationError({"delivery": ["This webhook has no such delivery."]})
    copy = replay(records.crm, records.session, delivery)
    return ActionResult(
        data={"delivery": copy.delivery_id, "event": copy.event_id, "state": copy.state},
        status=202,
        message="Delivery queued again.",
    )


def webhook_actions() -> tuple[RecordAction, ...]:
    """Rotate the secret and replay a delivery, for those who may update the webhook."""
    return (
        RecordAction(
            name="rotate_secret",
            label="Rotate secret",
            handler=_rotate,
            destructive=True,
            description="Make a new signing secret (shown once); the old one stops working.",
        ),
        RecordAction(
            name="replay",
            label="Replay delivery",
            handler=_replay,
            schema=ReplayInput,
            status=202,
            description="Send one delivery's event again, with a new delivery id.",
        ),
    )
