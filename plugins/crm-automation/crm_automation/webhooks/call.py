"""The call-webhook action: POST the record as JSON to a URL, signed like the webhooks.

The body holds the rule and run ids, the record as the API returns it to the rule's owner,
the incoming payload when a webhook fired the run, and the action's ``fields`` (templates,
e.g. ``{"text": "Deal {{ record.title }} won"}`` for a chat tool). It goes through the webhook
delivery machinery: a delivery row (the delivery log, on the rule's page), the SSRF guard on
every attempt and redirect hop, ``X-CRM-Signature`` with the rule's signing secret, retries
with backoff for 24 hours. The first attempt is made at once; the action's result says how it
went, and later attempts are in the delivery log.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

from crmcore import ValidationError
from sqlalchemy import select

from .. import templating
from ..i18n import text as _
from .delivery import allowed_hosts, deliver
from .models import AutomationWebhookDelivery
from .ssrf import RefusedURL, check

KIND = "call_webhook"
MAX_FIELDS = 20
EVENT_TYPE = "workflow.call_webhook"


def _refuse(where: str, message: str) -> ValidationError:
    return ValidationError({"actions": [f"{where}: {message}"]})


def check_call(config: Mapping[str, Any], _entity: Any, crm: Any, where: str) -> None:
    """Refuse a URL the SSRF guard refuses (naming it) and fields that are not templates."""
    url = config.get("url")
    if not isinstance(url, str) or not url.strip() or len(url) > 2000:
        raise _refuse(where, _("give the URL to call (at most 2000 characters)."))
    try:
        check(url.strip(), allowed_hosts(crm))
    except RefusedURL as exc:
        params = dict(exc.params)
        if "kind" in params:
            params["kind"] = _(params["kind"])
        reason = _(exc.reason, **params)
        raise _refuse(where, _("%(url)s is refused: %(reason)s", url=exc.url,
                                  reason=reason)) from None  # fmt: skip
    extra = config.get("fields", {})
    if not isinstance(extra, Mapping) or len(extra) > MAX_FIELDS:
        raise _refuse(where, _("fields is an object of at most 20 names and templates."))
    for name, template in extra.items():
        if not isinstance(name, str) or not name or len(name) > 100:
            raise _refuse(where, _("each field needs a name of 1 to 100 characters."))
        templating.check(template, _("%(where)s, field %(name)s", where=where, name=name))


def body_of(ctx: Any, config: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON the action sends (see the module's docstring)."""
    context = ctx.template_context()
    rule = ctx.workflow
    body: dict[str, Any] = {
        "type": EVENT_TYPE,
        "rule": {"id": rule.id, "name": rule.name},
        "run": getattr(ctx.run, "id", None),
        "entity": ctx.entity.plural,
        "record": context["record"],
        "fields": {
            name: templating.render(text, context)
            for name, text in (config.get("fields") or {}).items()
        },
    }
    if ctx.payload is not None:
        body["payload"] = ctx.payload
    return body


def event_id_for(run_id: int, position: int) -> str:
    """The event id of a run's call: the same for the step whoever does it, so a step a
    stopped worker left started can find the delivery it handed over."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"crm-automation:run:{run_id}:step:{position}"))


def handed_over(session: Any, run_id: int, position: int) -> AutomationWebhookDelivery | None:
    """The delivery a run's call-webhook step committed, if it got that far."""
    return session.scalar(  # type: ignore[no-any-return]
        select(AutomationWebhookDelivery).where(
            AutomationWebhookDelivery.event_id == event_id_for(run_id, position)
        )
    )


def call_webhook(ctx: Any, config: Mapping[str, Any]) -> str:
    """Queue the delivery (committed) and make its first attempt now."""
    session = ctx.session
    now = dt.datetime.now(dt.UTC)
    run_id = getattr(ctx.run, "id", None)
    position = config.get("_position")
    if run_id is not None and isinstance(position, int):
        earlier = handed_over(session, run_id, position)
        if earlier is not None:  # a retried step: the delivery log already has its call
            return f"Handed to the delivery log: {earlier.delivery_id}"
    delivery = AutomationWebhookDelivery(
        delivery_id=str(uuid.uuid4()),
        webhook_id=None,
        workflow_id=ctx.workflow.id,
        url=str(config["url"]).strip(),
        event_id=(
            event_id_for(run_id, position)
            if run_id is not None and isinstance(position, int)
            else str(uuid.uuid4())
        ),
        event_type=EVENT_TYPE,
        entity=ctx.entity.plural,
        record_id=ctx.record.id,
        body=str(ctx.crm.app.json.dumps(body_of(ctx, config))),
        state="pending",
        next_attempt_at=now,
    )
    session.add(delivery)
    session.commit()
    state = deliver(ctx.crm, session, delivery.id, now=now)
    session.refresh(delivery)
    if state == "delivered":
        return f"Delivered: {delivery.delivery_id}"
    if delivery.state == "failed":
        return f"Not delivered: {delivery.delivery_id}"
    return f"Not delivered yet, retried with backoff: {delivery.delivery_id}"


def describe_call(config: Mapping[str, Any], _entity: Any) -> str:
    """What a dry run says."""
    return f"Call the webhook {config.get('url')}"
