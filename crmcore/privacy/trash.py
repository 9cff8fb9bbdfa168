"""Trash retention: records trashed longer than ``trash_retention_days`` are deleted for good
by a daily job, and administrators may empty the trash at once; both with the cascade of
:mod:`crmcore.privacy.cascade` (notes, tasks, activities, attachments and search documents of
each record go with it) and an audit row counting what went."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..audit import record_audit
from ..settings import get_settings
from .cascade import CHUNK, purge_records
from .service import participating_plugins

if TYPE_CHECKING:
    from ..app import CRM
    from ..registry import Entity

log = logging.getLogger(__name__)

#: the audit trail's entity for purges of the trash
AUDIT_ENTITY = "trash"
#: accounts are deactivated, never purged: their records and history keep their author
KEPT = frozenset({"user", "role", "team"})


def purgeable(crm: CRM, session: Session) -> list[Entity]:
    """Entities whose trashed records may be purged: those of plugins with tables here."""
    plugins = set(participating_plugins(crm, session))
    return [
        e
        for e in crm.registry
        if e.plugin in plugins and e.name not in KEPT and hasattr(e.model, "deleted_at")
    ]


def purge_trash(
    crm: CRM,
    session: Session,
    *,
    before: dt.datetime | None = None,
    entities: Iterable[Entity] | None = None,
    user: Any = None,
    action: str = "purge",
) -> dict[str, int]:
    """Delete for good the trashed records of ``entities`` (default: every purgeable one)
    trashed before ``before`` (default: all of them); commits every batch. Returns the count
    per entity plural, also written to one audit row (``trash``/``action``)."""
    counts: dict[str, int] = {}
    for entity in list(entities) if entities is not None else purgeable(crm, session):
        model = entity.model
        condition = model.deleted_at.is_not(None)
        if before is not None:
            condition &= model.deleted_at < before
        skipped: set[int] = set()  # still referenced by a kept record: they stay
        while True:
            stmt = select(model.id).where(condition).order_by(model.id).limit(CHUNK)
            if skipped:
                stmt = stmt.where(model.id.not_in(skipped))
            ids = list(session.scalars(stmt))
            if not ids:
                break
            done = _purge_batch(crm, session, entity, ids, skipped)
            if done:
                counts[entity.plural] = counts.get(entity.plural, 0) + done
            if len(ids) < CHUNK:
                break
    if counts:
        changes: dict[str, tuple[Any, Any]] = {"purged": (None, counts)}
        if before is not None:
            changes["before"] = (None, before)
        record_audit(session, AUDIT_ENTITY, 0, action, getattr(user, "id", None), changes)
        session.commit()
    return counts


def _purge_batch(
    crm: CRM, session: Session, entity: Entity, ids: list[int], skipped: set[int]
) -> int:
    """Purge ``ids`` in one transaction; if a kept record still refers to one of them (a
    foreign key without a cascade), one by one, leaving the referenced ones in the trash."""
    try:
        done = purge_records(crm, session, entity.name, ids, forget_audit=False)
        session.commit()
        return done
    except IntegrityError:
        session.rollback()
    done = 0
    for record_id in ids:
        try:
            done += purge_records(crm, session, entity.name, [record_id], forget_audit=False)
            session.commit()
        except IntegrityError:
            session.rollback()
            skipped.add(record_id)
            log.warning(
                "%s %s stays in the trash: other records refer to it", entity.name, record_id
            )
    return done


def retention_cutoff(session: Session, now: dt.datetime | None = None) -> dt.datetime | None:
    """When records trashed before now expire; ``None`` when the setting keeps them."""
    days = int(get_settings(session).get("trash_retention_days") or 0)
    if days <= 0:
        return None
    return (now or dt.datetime.now(dt.UTC)) - dt.timedelta(days=days)


def run_retention(app: Any) -> None:
    """The daily job: purge what stayed in the trash longer than the setting allows."""
    crm = app.extensions["crm"]
    session = crm.session
    cutoff = retention_cutoff(session)
    if cutoff is not None:
        purge_trash(crm, session, before=cutoff)
