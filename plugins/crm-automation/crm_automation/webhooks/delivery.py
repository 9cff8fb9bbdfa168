"""Delivering the outbox: one attempt per job, retries with exponential backoff for 24 hours,
then the webhook is disabled and its owner notified.

A job first claims its delivery with a conditional UPDATE (state still pending and due), so two
workers - or a job and the periodic sweep - never send one attempt twice. Every attempt is
logged (:class:`~.models.AutomationWebhookAttempt`) with its status, duration, the start of
the response and the error.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Any

from crmcore.notifications import notify
from crmcore.settings import current_settings
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from . import signing
from .models import AutomationWebhook, AutomationWebhookAttempt, AutomationWebhookDelivery
from .ssrf import ALLOWED_HOSTS_SETTING
from .transport import post

log = logging.getLogger(__name__)

#: How long a delivery is retried, from its event.
RETRY_WINDOW = dt.timedelta(hours=24)
#: The first retry waits this long; each next one twice as long, up to :data:`MAX_DELAY`.
FIRST_DELAY = dt.timedelta(seconds=30)
MAX_DELAY = dt.timedelta(hours=2)
#: How long a claimed attempt may take before the sweep may try it again (a killed worker).
LEASE = dt.timedelta(minutes=5)
#: Deliveries the periodic sweep sends per run.
SWEEP_BATCH = 200


def backoff(attempts: int) -> dt.timedelta:
    """The wait after the ``attempts``-th failed attempt: 30 s, 1 min, 2 min, ... up to 2 h."""
    delay: dt.timedelta = FIRST_DELAY * (2 ** max(attempts - 1, 0))
    return min(delay, MAX_DELAY)


def allowed_hosts(crm: Any = None) -> list[str]:
    """The instance's allow-listed webhook hosts."""
    value = current_settings(crm).get(ALLOWED_HOSTS_SETTING) or []
    return [str(h) for h in value] if isinstance(value, list) else []


def queue_delivery(crm: Any, delivery_pk: int, eta: dt.datetime | None = None) -> None:
    """Queue the job sending delivery ``delivery_pk`` (now, or at ``eta``)."""
    crm.jobs.enqueue(deliver_job, delivery_pk, eta=eta)


def deliver_job(app: Any, delivery_pk: int) -> str | None:
    """The job: one attempt of one delivery (see :func:`deliver`)."""
    crm = app.extensions["crm"]
    if "automation" not in crm.enabled_plugins():
        return None
    return deliver(crm, crm.session, delivery_pk)


def sweep_job(app: Any) -> None:
    """The periodic job: attempt every due delivery whose job was lost."""
    crm = app.extensions["crm"]
    session = crm.session
    now = dt.datetime.now(dt.UTC)
    due = session.scalars(
        select(AutomationWebhookDelivery.id)
        .where(
            AutomationWebhookDelivery.state == "pending",
            AutomationWebhookDelivery.next_attempt_at <= now - dt.timedelta(seconds=60),
        )
        .order_by(AutomationWebhookDelivery.next_attempt_at)
        .limit(SWEEP_BATCH)
    ).all()
    session.rollback()
    for pk in due:
        deliver(crm, session, pk, now=now)


def claim(session: Session, delivery_pk: int, now: dt.datetime) -> bool:
    """Take a due pending delivery for one attempt (committed); ``False`` when another worker
    has it, it is not due, or it is finished."""
    result = session.execute(
        update(AutomationWebhookDelivery)
        .where(
            AutomationWebhookDelivery.id == delivery_pk,
            AutomationWebhookDelivery.state == "pending",
            AutomationWebhookDelivery.next_attempt_at <= now,
        )
        .values(next_attempt_at=now + LEASE)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return bool(getattr(result, "rowcount", 0) == 1)


def deliver(
    crm: Any, session: Session, delivery_pk: int, *, now: dt.datetime | None = None
) -> str | None:
    """Make one attempt of a delivery if it is due; returns its new state (``None`` when it was
    not ours to send)."""
    now = now or dt.datetime.now(dt.UTC)
    if not claim(session, delivery_pk, now):
        return None
    delivery = session.get(AutomationWebhookDelivery, delivery_pk)
    assert delivery is not None
    session.refresh(delivery)
    hook = delivery.webhook
    if not hook.active or hook.deleted_at is not None:
        delivery.state, delivery.finished_at = "failed", now
        _log(session, delivery, now, None, "", "The webhook is inactive.", 0)
        session.commit()
        return delivery.state
    body = delivery.body.encode("utf-8")
    headers = {
        **signing.headers(hook.secret, body),
        "X-CRM-Delivery": delivery.delivery_id,
        "X-CRM-Event": delivery.event_type,
        "X-CRM-Event-Id": delivery.event_id,
    }
    response = post(hook.url, body, headers, allowed_hosts=allowed_hosts(crm))
    delivery.attempts += 1
    _log(session, delivery, now, response.status, response.excerpt, response.error,
         response.duration_ms)  # fmt: skip
    if response.ok:
        delivery.state, delivery.finished_at = "delivered", now
        session.commit()
        return delivery.state
    retry_at = now + backoff(delivery.attempts)
    if retry_at - delivery.created_at > RETRY_WINDOW:
        delivery.state, delivery.finished_at = "failed", now
        session.commit()
        disable(crm, session, hook, delivery)
        return "failed"
    delivery.next_attempt_at = retry_at
    session.commit()
    try:
        queue_delivery(crm, delivery.id, eta=retry_at)
    except Exception:  # the sweep retries it
        log.exception("could not queue the retry of webhook delivery %s", delivery.id)
    return delivery.state


def _log(
    session: Session,
    delivery: AutomationWebhookDelivery,
    now: dt.datetime,
    status: int | None,
    excerpt: str,
    error: str,
    duration_ms: int,
) -> None:
    session.add(
        AutomationWebhookAttempt(
            delivery_id=delivery.id,
            number=delivery.attempts,
            started_at=now,
            duration_ms=duration_ms,
            status_code=status,
            response_excerpt=excerpt,
            error=error[:500],
        )
    )


def disable(
    crm: Any, session: Session, hook: AutomationWebhook, delivery: AutomationWebhookDelivery
) -> None:
    """Turn a webhook off after a delivery failed for the whole retry window, fail its other
    pending deliveries and tell its owner (through the record service: audited)."""
    reason = f"Delivery {delivery.delivery_id} failed for 24 hours."
    crm.records(session=session).update(
        "webhook", hook, {"active": False}, internal={"disabled_reason": reason}, commit=False
    )
    session.execute(
        update(AutomationWebhookDelivery)
        .where(
            AutomationWebhookDelivery.webhook_id == hook.id,
            AutomationWebhookDelivery.state == "pending",
        )
        .values(state="failed", finished_at=dt.datetime.now(dt.UTC))
        .execution_options(synchronize_session=False)
    )
    if hook.owner_id is not None:
        notify(
            session,
            hook.owner_id,
            "automation.webhook_disabled",
            "A webhook was disabled",
            f"{hook.name}: {hook.url}",
            link=("webhooks", hook.id),
        )
    session.commit()


def replay(crm: Any, session: Session, delivery: AutomationWebhookDelivery) -> Any:
    """A new delivery of the same event (same event id and body, a new delivery id), queued
    now; committed. Receivers that de-duplicate by delivery id process it again."""
    copy = AutomationWebhookDelivery(
        delivery_id=str(uuid.uuid4()),
        webhook_id=delivery.webhook_id,
        event_id=delivery.event_id,
        event_type=delivery.event_type,
        entity=delivery.entity,
        record_id=delivery.record_id,
        body=delivery.body,
        state="pending",
        next_attempt_at=dt.datetime.now(dt.UTC),
        replay_of_id=delivery.id,
    )
    session.add(copy)
    session.commit()
    try:
        queue_delivery(crm, copy.id)
    except Exception:
        log.exception("could not queue webhook delivery %s", copy.id)
    return copy
