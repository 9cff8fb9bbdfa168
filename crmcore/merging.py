"""Merging two duplicate records (contacts, companies) into one.

:func:`merge_records` keeps the *winner*, copies onto it the values the caller chose from the
*loser*, unites their tags, re-points every reference to the loser at the winner and moves the
loser to the trash. References are found through the registry (:mod:`crmcore.references`):
every entity's reference fields targeting the merged entity and polymorphic
``record_type``/``record_id`` links (notes, tasks, activities, attachments). What the registry
cannot see (a plugin's tables that are not entities) is re-pointed by the plugins themselves,
in the ``crm_merge_records`` hook.

Re-pointing is one ``UPDATE`` per field with an audit row per re-pointed record (an
``update`` of the field from the loser's id to the winner's, by the merging user): the record
service would refuse many of these writes - records outside the user's scope, records in the
trash, a disabled plugin's records, read-only fields - and the merge must move them all.

Disabled plugins take part: their reference fields are re-pointed and their
``crm_merge_records`` is called when their tables exist (they were enabled once), as for
erasure, so nothing points at the trashed loser when the plugin is enabled again.

Undo: restoring the loser from the trash (within the retention period) moves back the
references the merge re-pointed - those listed in the loser's ``merge`` audit row
(``repointed``) that still point at the winner (:func:`unmerge`, an ``unmerge`` audit row).
The values copied onto the winner and the rows plugins moved in ``crm_merge_records`` stay.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, or_, select, update

from .audit import record_audit, record_audit_many
from .db import utcnow
from .errors import ValidationError
from .references import references

if TYPE_CHECKING:
    from .records import RecordService
    from .registry import Entity

#: the entities that can be merged
MERGEABLE = frozenset({"contact", "company"})
WINNER = "winner"
LOSER = "loser"
#: fields no choice applies to: tags are united, the rest is the record's own bookkeeping
_NOT_CHOSEN = frozenset({"id", "tags", "version", "created_at", "updated_at", "deleted_at"})
_CHUNK = 500


@dataclass
class MergeResult:
    """What a merge did.

    :ivar winner: the record kept.
    :ivar loser: the record moved to the trash.
    :ivar repointed: ``"<entity>.<field>" -> ids`` of the records re-pointed at the winner.
    """

    winner: Any
    loser: Any
    repointed: dict[str, list[int]] = field(default_factory=dict)


def choosable_fields(entity: Entity) -> list[str]:
    """The fields whose value a merge may take from either record (in the schema's order)."""
    schema = entity.update_schema
    return [
        name
        for name, schema_field in schema.fields.items()
        if not schema_field.dump_only and name not in _NOT_CHOSEN
    ]


def merge_records(
    records: RecordService,
    entity: Entity | str,
    winner: Any,
    loser: Any,
    choices: Mapping[str, str] | None = None,
) -> MergeResult:
    """Merge ``loser`` into ``winner``, two records of ``entity``; never commits.

    :param records: the merging user's record service: it updates the winner and trashes the
        loser, so it needs ``update`` on the winner and ``delete`` on the loser.
    :param choices: field -> ``"winner"`` or ``"loser"``: whose value the kept record has
        (fields left out keep the winner's). ``ValidationError`` names an unknown field or
        choice, a record merged with itself and an entity that cannot be merged.
    """
    entity = records.entity(entity)
    if entity.name not in MERGEABLE:
        raise ValidationError({"entity": ["Only contacts and companies can be merged."]})
    if not isinstance(winner, entity.model) or not isinstance(loser, entity.model):
        raise ValidationError({"other_id": ["Both records must be of the same kind."]})
    if winner.id == loser.id:
        raise ValidationError({"other_id": ["A record cannot be merged with itself."]})
    values = _chosen_values(entity, loser, choices or {})
    if "tags" in entity.columns:
        united = list(dict.fromkeys([*(winner.tags or ()), *(loser.tags or ())]))
        if united != list(winner.tags or ()):
            values["tags"] = united
    if values:
        records.update(entity, winner, values, commit=False)
    session = records.session
    session.flush()
    result = MergeResult(winner, loser)
    result.repointed = _repoint(records, entity, winner.id, loser.id)
    session.expire_all()  # the UPDATEs bypassed the objects in the session
    plugins = _participating(records)
    disabled = [name for name in records.crm.plugins.plugins if name not in plugins]
    records.crm.plugins.hook("crm_merge_records", disabled)(
        entity=entity, winner=winner, loser=loser, session=session
    )
    records.delete(entity, loser, commit=False)
    _forget_pairs(records, entity, loser.id)
    user_id = records.access.user_id
    record_audit(
        session, entity.name, winner.id, "merge", user_id, {"merged_from": (None, loser.id)}
    )
    record_audit(
        session,
        entity.name,
        loser.id,
        "merge",
        user_id,
        {"merged_into": (None, winner.id), "repointed": (None, result.repointed)},
    )
    session.flush()
    return result


def _chosen_values(entity: Entity, loser: Any, choices: Mapping[str, str]) -> dict[str, Any]:
    allowed = set(choosable_fields(entity))
    errors: dict[str, list[str]] = {}
    for name, choice in choices.items():
        if name not in allowed:
            errors[str(name)] = ["No such field to choose."]
        elif choice not in (WINNER, LOSER):
            errors[name] = ['Choose "winner" or "loser".']
    if errors:
        raise ValidationError({"choices": errors})
    taken = [name for name, choice in choices.items() if choice == LOSER]
    if not taken:
        return {}
    # the loser's values as input: what its dump says, as the update schema loads it
    dumped = entity.dump_schema.dump(loser)
    return {name: dumped.get(name) for name in taken}


def _participating(records: RecordService) -> list[str]:
    from .privacy.service import participating_plugins

    return participating_plugins(records.crm, records.session)


def _repoint(
    records: RecordService, entity: Entity, winner_id: int, loser_id: int
) -> dict[str, list[int]]:
    session = records.session
    plugins = set(_participating(records))
    kinds = [entity.name, entity.plural]
    moved: dict[str, list[int]] = {}
    audit: list[tuple[str, int, str, int | None, dict[str, tuple[Any, Any]]]] = []
    for other in records.crm.registry:
        if other.plugin not in plugins:
            continue
        model = other.model
        for ref in references(records, other).values():
            column = getattr(model, ref.field)
            if ref.target == entity.name:
                where = column == loser_id
            elif ref.type_field is not None:
                where = (column == loser_id) & getattr(model, ref.type_field).in_(kinds)
            else:
                continue
            if other.name == entity.name:
                # the loser keeps its own values in the trash; the winner never points at itself
                where = where & model.id.not_in([loser_id, winner_id])
            ids = list(session.scalars(select(model.id).where(where).order_by(model.id)))
            if not ids:
                continue
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                session.execute(
                    update(model)
                    .where(model.id.in_(chunk))
                    .values(
                        {ref.field: winner_id, "version": model.version + 1, "updated_at": utcnow()}
                    )
                    .execution_options(synchronize_session=False)
                )
            moved[f"{other.name}.{ref.field}"] = ids
            audit.extend(
                (
                    other.name,
                    i,
                    "update",
                    records.access.user_id,
                    {ref.field: (loser_id, winner_id)},
                )
                for i in ids
            )
    _clear_self_reference(records, entity, winner_id, loser_id)
    record_audit_many(session, audit)
    return moved


def _clear_self_reference(
    records: RecordService, entity: Entity, winner_id: int, loser_id: int
) -> None:
    """A winner whose own reference field pointed at the loser (a parent company) loses it."""
    session = records.session
    model = entity.model
    for ref in references(records, entity).values():
        if ref.target != entity.name:
            continue
        column = getattr(model, ref.field)
        session.execute(
            update(model)
            .where(model.id == winner_id, column == loser_id)
            .values({ref.field: None})
            .execution_options(synchronize_session=False)
        )


def _forget_pairs(records: RecordService, entity: Entity, loser_id: int) -> None:
    from .duplicates.models import DuplicatePair

    records.session.execute(
        delete(DuplicatePair).where(
            DuplicatePair.entity == entity.name,
            or_(DuplicatePair.record_a == loser_id, DuplicatePair.record_b == loser_id),
        )
    )


def unmerge(records: RecordService, entity: Entity | str, loser_id: int) -> dict[str, list[int]]:
    """Point back at the restored ``loser_id`` the records its last merge re-pointed that still
    point at the winner; nothing when it was not merged or was unmerged since. Never commits.
    Returns ``"<entity>.<field>" -> ids`` moved back."""
    from .audit import AuditEntry

    entity = records.entity(entity)
    session = records.session
    last = session.scalar(
        select(AuditEntry)
        .where(
            AuditEntry.entity == entity.name,
            AuditEntry.record_id == loser_id,
            AuditEntry.action.in_(("merge", "unmerge")),
        )
        .order_by(AuditEntry.id.desc())
        .limit(1)
    )
    if last is None or last.action != "merge" or "merged_into" not in (last.changes or {}):
        return {}
    winner_id = last.changes["merged_into"][1]
    repointed = (last.changes.get("repointed") or [None, {}])[1] or {}
    moved: dict[str, list[int]] = {}
    audit: list[tuple[str, int, str, int | None, dict[str, tuple[Any, Any]]]] = []
    for key, ids in repointed.items():
        name, _, field_name = key.partition(".")
        try:
            other = records.crm.registry.get(name)
        except KeyError:  # its plugin is no longer installed
            continue
        model = other.model
        column = getattr(model, field_name, None)
        if column is None:
            continue
        still = list(
            session.scalars(
                select(model.id).where(model.id.in_(ids), column == winner_id).order_by(model.id)
            )
        )
        if not still:
            continue
        session.execute(
            update(model)
            .where(model.id.in_(still))
            .values({field_name: loser_id, "version": model.version + 1, "updated_at": utcnow()})
            .execution_options(synchronize_session=False)
        )
        moved[key] = still
        audit.extend(
            (other.name, i, "update", records.access.user_id, {field_name: (winner_id, loser_id)})
            for i in still
        )
    record_audit_many(session, audit)
    record_audit(
        session, entity.name, loser_id, "unmerge", records.access.user_id,
        {"merged_into": (winner_id, None), "repointed": (None, moved)},
    )  # fmt: skip
    session.flush()
    return moved
