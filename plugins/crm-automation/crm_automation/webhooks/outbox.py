"""The outbox: a delivery row for each subscribed webhook, written in the transaction of the
change it reports.

The ``crm_validate_record`` wrapper notes each write that every veto let through
(:func:`note`). When that session commits, ``before_commit`` turns the noted writes into
``automation_webhook_delivery`` rows - flushed and committed with the change itself - and
``after_commit`` queues their delivery. A rolled-back change takes its rows with it and a
vetoed or failed write is never noted, so no event is lost or sent for nothing. A delivery
whose job is lost (a queue outage) is found again by the periodic sweep.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import TYPE_CHECKING, Any

from crmcore.errors import CRMError
from crmcore.permissions import Access
from sqlalchemy import event as sa_event
from sqlalchemy import select
from sqlalchemy.orm import Session, SessionTransaction

from .models import ACTION_EVENTS, AutomationWebhook, AutomationWebhookDelivery

if TYPE_CHECKING:
    from crmcore.records import RecordEvent

log = logging.getLogger(__name__)

_PENDING = "automation.webhook_events"
_QUEUED = "automation.webhook_deliveries"
_LISTENING = "automation.webhook_listening"
#: Entities whose events are never sent (a webhook about webhooks would carry their setup).
SILENT_ENTITIES = frozenset({"webhook"})


def note(event: RecordEvent) -> None:
    """Remember a write that passed every veto, for the outbox of its session's commit."""
    if event.entity.name in SILENT_ENTITIES or event.action not in ACTION_EVENTS:
        return
    session = event.session
    if not session.info.get(_LISTENING):
        session.info[_LISTENING] = True
        session.info["automation.crm"] = event.records.crm
        sa_event.listen(session, "before_commit", _before_commit)
        sa_event.listen(session, "after_commit", _after_commit)
        sa_event.listen(session, "after_transaction_end", _transaction_end)
    session.info.setdefault(_PENDING, []).append(
        (event.entity, event.record, ACTION_EVENTS[event.action], _now())
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _before_commit(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    crm = session.info["automation.crm"]
    if "automation" not in crm.enabled_plugins():
        return
    hooks = list(
        session.scalars(
            select(AutomationWebhook).where(
                AutomationWebhook.active.is_(True), AutomationWebhook.deleted_at.is_(None)
            )
        )
    )
    if not hooks:
        return
    rows = []
    for entity, record, name, occurred_at in pending:
        if record.id is None:
            continue  # never flushed: nothing was written
        event_id = str(uuid.uuid4())
        for hook in hooks:
            if not subscribed(hook, entity.plural, name):
                continue
            body = payload(crm, session, hook, entity, record, name, event_id, occurred_at)
            if body is None:
                continue
            rows.append(
                AutomationWebhookDelivery(
                    delivery_id=str(uuid.uuid4()),
                    webhook_id=hook.id,
                    event_id=event_id,
                    event_type=f"{entity.name}.{name}",
                    entity=entity.plural,
                    record_id=record.id,
                    body=body,
                    state="pending",
                    next_attempt_at=occurred_at,
                )
            )
    if rows:
        session.add_all(rows)
        session.info.setdefault(_QUEUED, []).extend(rows)


def _after_commit(session: Session) -> None:
    rows = session.info.pop(_QUEUED, None)
    if not rows:
        return
    from .delivery import queue_delivery

    crm = session.info["automation.crm"]
    try:
        # one job per commit: it sends every due delivery, these among them
        queue_delivery(crm, rows[0].id)
    except Exception:  # the periodic sweep sends them
        log.exception("could not queue webhook delivery %s", rows[0].id)


def _transaction_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        # after a commit both are already taken; after a rollback they must not outlive it
        session.info.pop(_PENDING, None)
        session.info.pop(_QUEUED, None)


def subscribed(hook: AutomationWebhook, plural: str, event_name: str) -> bool:
    """Whether ``hook`` wants ``event_name`` of records of ``plural``."""
    entities = split(hook.entities)
    events = split(hook.events)
    return plural in entities and (not events or event_name in events)


def split(text: str | None) -> list[str]:
    """The items of a comma- or space-separated list, lower case, without repeats."""
    items = (text or "").replace(",", " ").split()
    return list(dict.fromkeys(i.strip().lower() for i in items if i.strip()))


def payload(
    crm: Any,
    session: Session,
    hook: AutomationWebhook,
    entity: Any,
    record: Any,
    event_name: str,
    event_id: str,
    occurred_at: dt.datetime,
) -> str | None:
    """The JSON body for ``hook``: the record as the API answers it to the webhook's owner, or
    ``None`` when the owner may not read that record (then nothing is sent)."""
    from crmcore.users.models import User

    owner = session.get(User, hook.owner_id) if hook.owner_id is not None else None
    if owner is None:
        return None
    reader = crm.records(Access.for_user(owner), session)
    try:
        with session.no_autoflush:
            seen = reader.get(entity, record.id, trashed=event_name == "deleted")
    except CRMError:
        return None
    data = {
        "id": event_id,
        "type": f"{entity.name}.{event_name}",
        "occurred_at": occurred_at.isoformat().replace("+00:00", "Z"),
        "entity": entity.plural,
        "data": entity.dump_schema.dump(seen),
    }
    return str(crm.app.json.dumps(data))
