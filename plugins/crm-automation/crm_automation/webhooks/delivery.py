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
from crmcore.users.models import User
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select, update
from sqlalchemy.orm import Session, joinedload

from . import signing
from .models import AutomationWebhook, AutomationWebhookAttempt, AutomationWebhookDelivery
from .ssrf import ALLOWED_HOSTS_SETTING
from .transport import Connections, post

log = logging.getLogger(__name__)

#: How long a delivery is retried, from its event.
RETRY_WINDOW = dt.timedelta(hours=24)
#: The first retry waits this long; each next one twice as long, up to :data:`MAX_DELAY`.
FIRST_DELAY = dt.timedelta(seconds=30)
MAX_DELAY = dt.timedelta(hours=2)
#: How long a claimed attempt may take before the sweep may try it again (a killed worker).
LEASE = dt.timedelta(minutes=5)
#: Deliveries one job claims and sends together (over kept-alive connections).
BATCH = 50
#: Attempts one job makes at most before it leaves the rest to the next job.
JOB_LIMIT = 2000
#: Attempts the periodic sweep makes per run.
SWEEP_BATCH = 500


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


def deliver_job(app: Any, delivery_pk: int) -> int:
    """The job queued for each new delivery and each retry: sends every due delivery (that
    one among them, usually) in batches; returns how many attempts it made."""
    crm = app.extensions["crm"]
    if "automation" not in crm.enabled_plugins():
        return 0
    return drain(crm, crm.session)


def sweep_job(app: Any) -> None:
    """The periodic job: send the due deliveries whose job was lost (a queue outage)."""
    crm = app.extensions["crm"]
    drain(crm, crm.session, limit=SWEEP_BATCH)


def drain(
    crm: Any, session: Session, *, now: dt.datetime | None = None, limit: int = JOB_LIMIT
) -> int:
    """Claim and send due deliveries, :data:`BATCH` at a time over kept-alive connections,
    until none is due or ``limit`` attempts were made; returns the attempts made."""
    made = 0
    with Connections() as connections:
        while made < limit:
            moment = now or dt.datetime.now(dt.UTC)
            batch = claim_due(session, moment, min(BATCH, limit - made))
            if not batch:
                break
            _send_batch(crm, session, batch, moment, connections)
            made += len(batch)
    return made


def claim_due(session: Session, now: dt.datetime, size: int) -> list[AutomationWebhookDelivery]:
    """Take up to ``size`` due pending deliveries for one attempt each (committed, so other
    workers skip them until the lease ends); loaded with their webhooks."""
    ids = list(
        session.scalars(
            select(AutomationWebhookDelivery.id)
            .where(
                AutomationWebhookDelivery.state == "pending",
                AutomationWebhookDelivery.next_attempt_at <= now,
            )
            .order_by(AutomationWebhookDelivery.next_attempt_at, AutomationWebhookDelivery.id)
            .limit(size)
        )
    )
    return _claim(session, ids, now)


def _claim(session: Session, ids: list[int], now: dt.datetime) -> list[AutomationWebhookDelivery]:
    if not ids:
        session.commit()
        return []
    token = uuid.uuid4().hex
    session.execute(
        update(AutomationWebhookDelivery)
        .where(
            AutomationWebhookDelivery.id.in_(ids),
            AutomationWebhookDelivery.state == "pending",
            AutomationWebhookDelivery.next_attempt_at <= now,
        )
        .values(next_attempt_at=now + LEASE, lease=token)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    claimed = list(
        session.scalars(
            select(AutomationWebhookDelivery)
            .where(AutomationWebhookDelivery.lease == token)
            .options(
                joinedload(AutomationWebhookDelivery.webhook),
                joinedload(AutomationWebhookDelivery.workflow),
            )
            .order_by(AutomationWebhookDelivery.id)
            .execution_options(populate_existing=True)
        )
    )
    return claimed


def deliver(
    crm: Any, session: Session, delivery_pk: int, *, now: dt.datetime | None = None
) -> str | None:
    """Make one attempt of one delivery if it is due; returns its new state (``None`` when it
    was not ours to send: not due, finished, or taken by another worker)."""
    now = now or dt.datetime.now(dt.UTC)
    claimed = _claim(session, [delivery_pk], now)
    if not claimed:
        return None
    with Connections() as connections:
        _send_batch(crm, session, claimed, now, connections)
    return claimed[0].state


def _send_batch(
    crm: Any,
    session: Session,
    batch: list[AutomationWebhookDelivery],
    now: dt.datetime,
    connections: Connections,
) -> None:
    """One attempt of each claimed delivery; results committed together, then the follow-ups
    (retries queued, webhooks disabled). No transaction is open while requests are sent."""
    allowed = allowed_hosts(crm)
    session.commit()  # the reads above opened one (on SQLite: the write lock)
    failed: list[AutomationWebhookDelivery] = []
    retries: list[AutomationWebhookDelivery] = []
    for delivery in batch:
        url, secret, refusal = _target(delivery)
        if refusal:
            delivery.state, delivery.finished_at = "failed", now
            _log(session, delivery, now, None, "", refusal, 0)
            continue
        body = delivery.body.encode("utf-8")
        headers = {
            **signing.headers(secret, body),
            "X-CRM-Delivery": delivery.delivery_id,
            "X-CRM-Event": delivery.event_type,
            "X-CRM-Event-Id": delivery.event_id,
        }
        response = post(url, body, headers, allowed_hosts=allowed, connections=connections)
        delivery.attempts += 1
        delivery.lease = None
        _log(session, delivery, now, response.status, response.excerpt, response.error,
             response.duration_ms)  # fmt: skip
        if response.ok:
            delivery.state, delivery.finished_at = "delivered", now
            continue
        retry_at = now + backoff(delivery.attempts)
        if retry_at - delivery.created_at > RETRY_WINDOW:
            delivery.state, delivery.finished_at = "failed", now
            failed.append(delivery)
        else:
            delivery.next_attempt_at = retry_at
            retries.append(delivery)
    session.commit()
    for delivery in failed:
        if delivery.webhook is not None and delivery.webhook.active:
            disable(crm, session, delivery.webhook, delivery)
    for delivery in retries:
        try:
            queue_delivery(crm, delivery.id, eta=delivery.next_attempt_at)
        except Exception:  # the sweep retries it
            log.exception("could not queue the retry of webhook delivery %s", delivery.id)


def _target(delivery: AutomationWebhookDelivery) -> tuple[str, str, str]:
    """Where a delivery goes and the key signing it: its webhook's URL and secret, or (for a
    rule's call-webhook action) its own URL and the rule's secret; else the reason it may not
    go (the webhook or the rule is inactive or trashed)."""
    hook = delivery.webhook
    if hook is not None:
        if not hook.active or hook.deleted_at is not None:
            return "", "", "The webhook is inactive."
        return hook.url, hook.secret, ""
    rule = delivery.workflow
    if rule is None or rule.deleted_at is not None or not rule.secret:
        return "", "", "The rule is gone."
    return delivery.url or "", rule.secret, ""


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
    owner = session.get(User, hook.owner_id) if hook.owner_id is not None else None
    if owner is not None:
        with force_locale(owner.locale or "en"):
            title = _("Webhook disabled: %(name)s", name=hook.name)
            body = _("Deliveries to %(url)s failed for 24 hours.", url=hook.url)
        notify(session, owner.id, "automation.webhook_disabled", title, body,
               link=("webhook", hook.id))  # fmt: skip
    session.commit()


def replay(crm: Any, session: Session, delivery: AutomationWebhookDelivery) -> Any:
    """A new delivery of the same event (same event id and body, a new delivery id), queued
    now; committed. Receivers that de-duplicate by delivery id process it again."""
    copy = AutomationWebhookDelivery(
        delivery_id=str(uuid.uuid4()),
        webhook_id=delivery.webhook_id,
        workflow_id=delivery.workflow_id,
        url=delivery.url,
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
