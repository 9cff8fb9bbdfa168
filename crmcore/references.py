"""References: fields of one entity that hold the id of another record.

Which fields are references, in order of precedence:

1. ``Entity(references={"template_id": "email_template"})`` - an explicit entity name, a
   :class:`Polymorphic` (the entity is named by another column of the record) or ``None`` (the
   field is not a reference, whatever its name says);
2. the schema field's metadata: ``fields.Integer(metadata={"reference": "email_template"})``;
3. the entity's ``linked_to`` columns, and any ``<x>_id`` beside an ``<x>_type`` column,
   are polymorphic (notes' ``record_type`` + ``record_id``);
4. the owner field and ``assignee_id``, ``user_id``, ``created_by_id`` refer to users;
5. any other integer ``<thing>_id`` column refers to the entity ``<thing>`` when it exists
   (``company_id`` -> ``company``).

A reference whose target entity belongs to a disabled plugin is not a reference while the
plugin is off. The core uses the result everywhere: pickers in forms, linked titles on pages,
``<field>_name`` columns in exports, and the check on every write (:class:`ReferenceCheck`)
that refuses, naming the field, a reference to a record that does not exist or that the
writer may not read. Users are the exception to the read rule: any existing user may be
referred to (an assignee, an author), as a user's name is shown to everyone in the firm.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from marshmallow import fields
from sqlalchemy import select

from .db import json_integers, json_list, json_values
from .errors import CRMError

if TYPE_CHECKING:
    from .records import RecordService
    from .registry import Entity

#: Fields holding a user id, whatever their entity calls them.
USER_FIELDS = frozenset({"owner_id", "assignee_id", "user_id", "created_by_id"})
#: The message of a refused reference (one for both cases: existence is not revealed).
MISSING = "No such record, or you may not read it."
MISSING_USER = "No such user."


@dataclass(frozen=True)
class Polymorphic:
    """A reference whose entity is named by another column: ``Polymorphic("record_type")``."""

    type_field: str


@dataclass(frozen=True)
class Reference:
    """One reference field of an entity.

    :ivar field: the column holding the id (``company_id``).
    :ivar target: the referenced entity's name, ``None`` when polymorphic.
    :ivar type_field: for a polymorphic reference, the column naming the entity.
    :ivar writable: whether input may set it (``False`` for dump-only fields).
    """

    field: str
    target: str | None
    type_field: str | None = None
    writable: bool = True

    @property
    def is_user(self) -> bool:
        return self.target == "user"


def declared(entity: Entity, name: str, schema_field: fields.Field | None) -> Any:
    """What the entity or its schema declares for ``name``: an entity name, a
    :class:`Polymorphic`, ``None`` (not a reference) or ``...`` (nothing declared)."""
    mapping: Mapping[str, Any] = entity.references
    if name in mapping:
        return mapping[name]
    if schema_field is not None and "reference" in schema_field.metadata:
        return schema_field.metadata["reference"]
    return ...


def references(service: RecordService, entity: Entity) -> dict[str, Reference]:
    """The reference fields of ``entity`` whose target is enabled, by field name."""
    schema_fields = entity.dump_schema.fields
    names = list(dict.fromkeys([*schema_fields, *entity.references]))
    out: dict[str, Reference] = {}
    for name in names:
        if name not in entity.columns or name == "id":
            continue
        schema_field = schema_fields.get(name)
        writable = schema_field is not None and not schema_field.dump_only
        target = _target(entity, name, schema_field)
        if isinstance(target, Polymorphic):
            out[name] = Reference(name, None, target.type_field, writable)
        elif target is not None and _enabled(service, target):
            out[name] = Reference(name, service.entity(target).name, None, writable)
    return out


def _target(entity: Entity, name: str, schema_field: fields.Field | None) -> Any:
    explicit = declared(entity, name, schema_field)
    if explicit is not ...:
        return explicit
    if entity.linked_to is not None and name == entity.linked_to[1]:
        return Polymorphic(entity.linked_to[0])
    if not name.endswith("_id"):
        return None
    if schema_field is not None and not isinstance(schema_field, fields.Integer):
        return None
    stem = name.removesuffix("_id")
    if f"{stem}_type" in entity.columns:
        return Polymorphic(f"{stem}_type")
    if name in USER_FIELDS or name == entity.owner_field:
        return "user"
    return stem


def nested_target(
    service: RecordService, name: str, schema_field: fields.Field | None = None
) -> Entity | None:
    """The entity a field of a nested row refers to (a quote line's ``product_id``): its
    ``reference`` metadata, else the ``<entity>_id`` name; ``None`` when no enabled entity is."""
    target: Any = ...
    if schema_field is not None:
        target = schema_field.metadata.get("reference", ...)
    if target is ...:
        target = name.removesuffix("_id") if name.endswith("_id") else None
    if not isinstance(target, str) or not _enabled(service, target):
        return None
    return service.entity(target)


def _enabled(service: RecordService, name: str) -> bool:
    try:
        service.entity(name)
    except CRMError:
        return False
    return True


def type_of(service: RecordService, value: Any) -> Entity | None:
    """The enabled entity a polymorphic type column names (singular or plural), or ``None``."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return service.entity(value)
    except CRMError:
        return None


def as_id(value: Any) -> int | None:
    """``value`` as a record id when it plainly is one (``5``, ``"5"``), else ``None``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**63 else None
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) < 19:
        return int(value.strip())
    return None


def readable_ids(service: RecordService, target: Entity, ids: Iterable[int]) -> set[int]:
    """Which of ``ids`` are live records of ``target`` the service's user may read
    (users: which exist), in one scoped ``SELECT ... IN``."""
    wanted = sorted(set(ids))
    if not wanted:
        return set()
    model = target.model
    # the ids as one JSON parameter: one statement text whatever their count (an import
    # batch names ~1,000 companies), not a parameter per id for SQLAlchemy to expand and
    # the driver to convert at every batch
    dialect = service.session.get_bind().dialect.name
    listed = json_values("ids", dialect)
    value = json_integers(listed, dialect)
    among = model.id.in_(select(value).select_from(listed))
    if target.name == "user":
        stmt = select(model.id).where(among, model.deleted_at.is_(None))
    elif not service.access.can(target, "read"):
        return set()
    else:
        stmt = service.query(target).with_only_columns(model.id).where(among)
    return set(service.session.scalars(stmt, {"ids": json_list(wanted)}))


class ReferenceCheck:
    """Refuses references the writer may not make, with one query per field and batch.

    ``prefetch`` reads the ids of many input rows at once (an import batch); ``errors`` then
    answers from what was fetched, querying only for values it has not seen.
    """

    def __init__(self, service: RecordService, entity: Entity) -> None:
        self.service = service
        self.entity = entity
        self.refs = [
            r
            for r in references(service, entity).values()
            if r.writable and r.field != entity.owner_field  # the owner has its own rules
        ]
        self._seen: dict[str, set[int]] = defaultdict(set)
        self._ok: dict[str, set[int]] = defaultdict(set)
        self._targets: dict[str, Entity] = {}  # the entity of each fixed target, looked up once

    def prefetch(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Look up, per target entity, every id that ``rows`` (raw input) refer to."""
        if not self.refs:
            return
        wanted: dict[str, set[int]] = defaultdict(set)
        for row in rows:
            if not isinstance(row, Mapping):
                continue
            for ref in self.refs:
                value = as_id(row.get(ref.field))
                target = self._target_of(ref, row, None)
                if value is not None and target is not None:
                    wanted[target.name].add(value)
        for name, ids in wanted.items():
            self._fetch(self.service.entity(name), ids)

    def errors(self, values: Mapping[str, Any], record: Any) -> dict[str, list[str]]:
        """Field messages for the references in ``values`` (loaded input) that are refused.

        On update (``record`` given) a reference that keeps its current value is not checked
        again, so a record still saves after its referenced record left the writer's scope.
        """
        out: dict[str, list[str]] = {}
        for ref in self.refs:
            if ref.field not in values:
                continue
            value = values[ref.field]
            type_changed = (
                ref.type_field is not None
                and ref.type_field in values
                and values[ref.type_field] != getattr(record, ref.type_field, None)
            )
            if value is None or (
                record is not None
                and value == getattr(record, ref.field, None)
                and not type_changed
            ):
                continue
            target = self._target_of(ref, values, record)
            if ref.type_field is not None and target is None:
                out[ref.field] = [MISSING]
                continue
            assert target is not None
            if value not in self._seen[target.name]:
                self._fetch(target, [value])
            if value not in self._ok[target.name]:
                out[ref.field] = [MISSING_USER if target.name == "user" else MISSING]
        return out

    def _target_of(self, ref: Reference, values: Mapping[str, Any], record: Any) -> Entity | None:
        if ref.type_field is None:
            assert ref.target is not None
            target = self._targets.get(ref.target)
            if target is None:
                target = self._targets[ref.target] = self.service.entity(ref.target)
            return target
        kind = values.get(ref.type_field, getattr(record, ref.type_field, None))
        return type_of(self.service, kind)

    def _fetch(self, target: Entity, ids: Iterable[int]) -> None:
        ids = {i for i in ids if -(2**63) <= i < 2**63}
        self._seen[target.name] |= ids
        self._ok[target.name] |= readable_ids(self.service, target, ids)


def title_of(target: Entity, record: Any) -> str:
    """How a referenced record is named on pages and in exports (a user: name or e-mail)."""
    if target.name == "user":
        return str(record.name or record.email)
    return target.display(record)


def titles(service: RecordService, target: Entity, ids: Iterable[int]) -> dict[int, str]:
    """Titles of the records of ``target`` among ``ids`` that the service's user may read, in
    one query; users are named whoever reads (missing ids are left out)."""
    wanted = sorted({i for i in ids if isinstance(i, int) and -(2**63) <= i < 2**63})
    if not wanted:
        return {}
    model = target.model
    if target.name == "user":
        stmt = select(model).where(model.id.in_(wanted))
    elif not service.access.can(target, "read"):
        return {}
    else:
        stmt = service.query(target).where(model.id.in_(wanted))
    return {r.id: title_of(target, r) for r in service.session.scalars(stmt)}
