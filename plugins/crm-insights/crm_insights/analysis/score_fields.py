"""One score per contact stored in a contact field (churn risk, purchase propensity)."""

from __future__ import annotations

import logging
from typing import Any

from crmcore import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

#: contacts loaded and written per commit
BATCH = 500
log = logging.getLogger(__name__)


def store_scores(crm: Any, session: Session, field: str, scores: dict[int, int | None]) -> int:
    """Write ``scores`` (contact id -> value) to the contacts' ``field`` through the record
    service (as the system), only where the value changed; contacts scored before and missing
    from ``scores`` are emptied. Returns the number of contacts written."""
    records = crm.records(session=session)
    contacts = records.entity("contacts")
    model = contacts.model
    wanted = dict(scores)
    scored_before = select(model.id).where(model.custom_fields[field].as_string().is_not(None))
    for contact_id in session.scalars(scored_before):
        wanted.setdefault(contact_id, None)
    ids = sorted(wanted)
    written = 0
    for start in range(0, len(ids), BATCH):
        chunk = ids[start : start + BATCH]
        stmt = select(model).where(model.id.in_(chunk), model.deleted_at.is_(None))
        for contact in session.scalars(stmt).all():
            value = wanted[contact.id]
            if (contact.custom_fields or {}).get(field) == value:
                continue
            try:
                records.update(contacts, contact, {"custom_fields": {field: value}}, commit=False)
            except ValidationError as exc:  # e.g. a required custom field left empty
                log.warning("contact %s: %s not stored: %s", contact.id, field, exc)
                continue
            written += 1
        records.commit()
    return written
