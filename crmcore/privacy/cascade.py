"""Deleting records for good, with what hangs from them: shared by erasure and the trash purge.

The record service only ever moves records to the trash; this is the one place rows leave the
database for good. Dependants found through the registry - notes, tasks, activities and
attachments of any plugin's record (every entity with ``record_type``/``record_id`` columns) -
go with their record, their search documents too. Foreign keys declared ``ON DELETE CASCADE``
or ``SET NULL`` do the rest. Stored files are removed only after the transaction commits, so a
rollback never leaves a row whose file is gone.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import delete, event, select, update
from sqlalchemy.orm import Session

from ..audit import AuditEntry
from ..search import SearchDoc

if TYPE_CHECKING:
    from ..app import CRM

_FILES_KEY = "crm_privacy_files"
_LISTENING = "crm_privacy_listening"
#: ids deleted per statement: stays below every driver's parameter limit
CHUNK = 500


def purge_records(
    crm: CRM,
    session: Session,
    entity_name: str,
    ids: Sequence[int],
    *,
    forget_audit: bool,
    plugins: frozenset[str] | None = None,
) -> int:
    """Delete records of ``entity_name`` and their dependants for good; returns how many.

    :param forget_audit: also empty the values in the records' audit rows (erasure); the trash
        purge keeps the history of what was deleted.
    """
    entity = crm.registry.get(entity_name)
    if plugins is None:  # plugins whose tables exist here: only they can hold dependants
        from .service import participating_plugins

        plugins = frozenset(participating_plugins(crm, session))
    total = 0
    for start in range(0, len(ids), CHUNK):
        chunk = list(ids[start : start + CHUNK])
        _purge_dependants(crm, session, entity.name, chunk, forget_audit, plugins)
        if entity.name == "attachment":
            _remove_files_later(crm, session, chunk)
        session.execute(
            delete(SearchDoc).where(SearchDoc.entity == entity.name, SearchDoc.record_id.in_(chunk))
        )
        if forget_audit:
            session.execute(
                update(AuditEntry)
                .where(AuditEntry.entity == entity.name, AuditEntry.record_id.in_(chunk))
                .values(changes={"erased": [None, True]})
            )
        result = session.execute(delete(entity.model).where(entity.model.id.in_(chunk)))
        total += result.rowcount or 0  # type: ignore[attr-defined]
    session.flush()
    return total


def _purge_dependants(
    crm: CRM,
    session: Session,
    entity_name: str,
    ids: list[int],
    forget_audit: bool,
    plugins: frozenset[str],
) -> None:
    for dependant in crm.registry:
        model = dependant.model
        if dependant.plugin not in plugins or not (
            hasattr(model, "record_type") and hasattr(model, "record_id")
        ):
            continue
        found = list(
            session.scalars(
                select(model.id).where(model.record_type == entity_name, model.record_id.in_(ids))
            )
        )
        if found:
            purge_records(
                crm, session, dependant.name, found, forget_audit=forget_audit, plugins=plugins
            )


def _remove_files_later(crm: CRM, session: Session, attachment_ids: list[int]) -> None:
    from ..activities.models import Attachment
    from ..api.attachments import file_path

    paths = [
        file_path(crm, a)
        for a in session.scalars(select(Attachment).where(Attachment.id.in_(attachment_ids)))
    ]
    if not session.info.get(_LISTENING):
        # listeners stay for the session's life: removing one while it runs is not allowed
        event.listen(session, "after_commit", _unlink_pending)
        event.listen(session, "after_rollback", _forget_pending)
        session.info[_LISTENING] = True
    session.info.setdefault(_FILES_KEY, []).extend(paths)


def _unlink_pending(session: Session) -> None:
    paths: list[Path] = session.info.pop(_FILES_KEY, [])
    for path in paths:
        path.unlink(missing_ok=True)


def _forget_pending(session: Session) -> None:
    session.info.pop(_FILES_KEY, None)
