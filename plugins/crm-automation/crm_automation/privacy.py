"""The automation plugin's part of a person's data (``crm_person_data``).

Webhook deliveries carry the record as the API answered it - a contact's name, e-mail and
phones - and receivers may echo it in their answers; run history names the records a rule
touched. A person's deliveries (of their contacts, or mentioning them) are exported and then
deleted with their attempts, pending ones included, so nothing about an erased person is sent
afterwards; run results and incoming-webhook payloads that mention them are pseudonymised (the
runs stay for the rule's history).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, delete, or_, select

from .models import AutomationRun
from .webhooks.models import AutomationWebhookAttempt, AutomationWebhookDelivery


def person_data(person: Any) -> list[Any]:
    from crmcore.privacy import PersonData

    session = person.session
    theirs = [person.mentions(AutomationWebhookDelivery.body)]
    if person.contact_ids:
        theirs.append(
            and_(
                AutomationWebhookDelivery.entity.in_(("contact", "contacts")),
                AutomationWebhookDelivery.record_id.in_(person.contact_ids),
            )
        )
    conditions = [c for c in theirs if c is not None]
    deliveries = (
        list(session.scalars(select(AutomationWebhookDelivery).where(or_(*conditions))))
        if conditions
        else []
    )
    ids = [d.id for d in deliveries]
    runs = []
    mentioned = person.mentions(AutomationRun.results, AutomationRun.note, AutomationRun.payload)
    contact_runs = (
        and_(
            AutomationRun.entity.in_(("contact", "contacts")),
            AutomationRun.record_id.in_(person.contact_ids),
        )
        if person.contact_ids
        else None
    )
    where = [c for c in (mentioned, contact_runs) if c is not None]
    if where:
        runs = list(session.scalars(select(AutomationRun).where(or_(*where))))

    def erase_deliveries() -> None:
        if ids:
            session.execute(
                delete(AutomationWebhookAttempt).where(
                    AutomationWebhookAttempt.delivery_id.in_(ids)
                )
            )
            session.execute(
                delete(AutomationWebhookDelivery).where(AutomationWebhookDelivery.id.in_(ids))
            )
        # a receiver's answer may quote the person even for a delivery of another record
        person.scrub_rows(AutomationWebhookAttempt, ["response_excerpt", "error"])

    def erase_runs() -> None:
        for run in runs:
            run.results = person.scrub(run.results)
            run.note = person.scrub(run.note)
            if run.payload is not None:  # an incoming webhook's body
                run.payload = person.scrub(run.payload)
        session.flush()

    return [
        PersonData(
            "automation.webhook_deliveries",
            rows=[person.row(d) for d in deliveries],
            erase=erase_deliveries,
        ),
        PersonData("automation.runs", rows=[person.row(r) for r in runs], erase=erase_runs),
    ]
