"""The one write path: every create, update, delete and restore goes through ``RecordService``.

Order of work for each write: schema validation, permission check, custom fields, the entity's
``prepare``, the ``crm_validate_record`` veto, audit row, search index, the in-transaction
``crm_records_written`` hook, commit, then the after-commit event hooks.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import marshmallow
from sqlalchemy import Select, func, select
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.attributes import instance_state
from sqlalchemy.orm.exc import StaleDataError

from .audit import record_audit, record_audit_many
from .bulk_insert import insert_plan, insert_rows
from .columns import value_problem
from .customfields import FieldDef, clean_values
from .db import live, utcnow
from .errors import (
    Conflict,
    CRMError,
    NotFound,
    PermissionDenied,
    StaleRecord,
    Term,
    ValidationError,
)
from .fields import batch_region
from .instances import blank, detach_as_loaded, loaded_ids
from .permissions import Access, linked_condition
from .plugins import repeated_caller
from .references import ReferenceCheck
from .registry import SYSTEM_FIELDS, Entity

if TYPE_CHECKING:
    from .app import CRM

log = logging.getLogger(__name__)
#: tags one record may carry; thousands would bloat every list, export and search row
MAX_TAGS = 50
TOO_MANY_TAGS = "Too many tags: a record has at most 50."


@dataclass
class RecordEvent:
    """What event hooks receive.

    :ivar entity: the record's entity.
    :ivar record: the model instance (new values).
    :ivar action: ``create``, ``update``, ``delete`` or ``restore``.
    :ivar changes: changed fields, each ``(before, after)``; custom fields as
        ``custom_fields.<name>``.
    :ivar user: the acting user, ``None`` for the system (jobs, CLI).
    :ivar records: the record service, for follow-up writes that go through the same path.
    """

    entity: Entity
    record: Any
    action: str
    changes: dict[str, tuple[Any, Any]]
    user: Any
    records: RecordService = field(repr=False)

    @property
    def session(self) -> Session:
        """The session of the write (``records.session``)."""
        return self.records.session


def _without_traceback(exc: BaseException) -> BaseException:
    """``exc`` (and the exceptions it was raised from) without traceback, to be returned as a
    value: a traceback holds the frame that caught it, whose list of results holds ``exc`` -
    a cycle that keeps a whole batch's records, rows and frames alive until the garbage
    collector's next full pass (a fifth of an import's collector time, and its memory)."""
    seen: set[int] = set()
    error: BaseException | None = exc
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        error.__traceback__ = None
        error = error.__cause__ or error.__context__
    return exc


class RecordService:
    """Reads scoped to one user's permissions and the only way records are written.

    Get one with ``current_crm().records(access)`` (the system when ``access`` is omitted), or
    use ``event.records`` in an event hook (it acts as the user who made the change).

    :ivar crm: the :class:`~crmcore.app.CRM` of the app (registry, settings, plugins, jobs).
    :ivar session: the SQLAlchemy session it reads and writes with.
    :ivar access: the :class:`~crmcore.permissions.Access` it acts with; ``access.has(name)``
        checks a named permission such as ``"loyalty.adjust"``.
    """

    def __init__(self, crm: CRM, session: Session, access: Access) -> None:
        self.crm = crm
        self.session = session
        self.access = access
        self._pending: list[RecordEvent] = []

    @property
    def user(self) -> Any:
        """The acting user; ``None`` for the system."""
        return self.access.user

    def entity(self, name: str | Entity) -> Entity:
        """The registered entity called ``name`` (singular or plural); :class:`NotFound` when
        there is none or its plugin is disabled."""
        if isinstance(name, Entity):
            return name
        try:
            entity = self.crm.registry.get(name)
        except KeyError:
            raise NotFound("No entity called %(name)s.", params={"name": repr(name)}) from None
        if entity.plugin not in self.crm.builtin_names and (
            entity.plugin not in self.crm.enabled_plugins()
        ):
            raise NotFound("No entity called %(name)s.", params={"name": repr(name)})
        return entity

    # reading ----------------------------------------------------------------------------------

    def query(
        self, entity: Entity | str, action: str = "read", trashed: bool = False
    ) -> Select[Any]:
        """A SELECT of the records the user may ``action``; raises if the action is denied."""
        entity = self.entity(entity)
        if not self.access.can(entity, action):
            raise PermissionDenied(
                "You may not %(action)s %(things)s.", params=_terms(entity, action, plural=True)
            )
        model = entity.model
        deleted = model.deleted_at.is_not(None) if trashed else live(model)
        stmt = select(model).where(deleted, self.access.condition(entity, action))
        if entity.linked_to is not None:
            stmt = stmt.where(linked_condition(self.access, entity, self.crm.entities()))
        if entity.eager:
            stmt = stmt.options(*(selectinload(getattr(model, name)) for name in entity.eager))
        return stmt

    def count(self, entity: Entity | str, stmt: Select[Any] | None = None) -> int:
        """How many records ``stmt`` (default: :meth:`query`) selects."""
        stmt = stmt if stmt is not None else self.query(entity)
        counted: int | None = self.session.scalar(
            select(func.count()).select_from(stmt.order_by(None).subquery())
        )
        return counted or 0

    def get(
        self, entity: Entity | str, record_id: Any, action: str = "read", trashed: bool = False
    ) -> Any:
        """One record within the user's scope for ``action``.

        Raises ``NotFound`` when the user may not even read it (its existence is not revealed)
        and ``PermissionDenied`` when they may read but not ``action`` it.
        """
        entity = self.entity(entity)
        try:
            record_id = int(record_id)
        except (TypeError, ValueError):
            raise NotFound(
                "No %(thing)s with id %(id)s.", params={**_terms(entity), "id": repr(record_id)}
            ) from None
        if value_problem(entity.model.id.type, record_id) is not None:
            # an id the column cannot hold would make the driver raise, not find nothing
            raise NotFound(
                "No %(thing)s with id %(id)s.", params={**_terms(entity), "id": record_id}
            )
        model = entity.model
        record = self.session.scalar(
            self.query(entity, "read", trashed=trashed).where(model.id == record_id)
        )
        if record is None:
            raise NotFound(
                "No %(thing)s with id %(id)s.", params={**_terms(entity), "id": record_id}
            )
        if action != "read" and not self.access.allows_record(entity, action, record, self.session):
            raise PermissionDenied(
                "You may not %(action)s this %(thing)s.", params=_terms(entity, action)
            )
        return record

    # writing ----------------------------------------------------------------------------------

    def create(
        self,
        entity: Entity | str,
        data: Mapping[str, Any],
        *,
        commit: bool = True,
        internal: Mapping[str, Any] | None = None,
    ) -> Any:
        """Create a record from untrusted ``data``.

        ``internal`` holds values computed by trusted server code (a stored file name, a
        conversion date); they bypass the schema but are audited like the rest.
        """
        entity = self.entity(entity)
        scope = self.access.scope(entity, "create")
        if scope is None:
            raise PermissionDenied(
                "You may not %(action)s %(things)s.", params=_terms(entity, "create", plural=True)
            )
        event = self._new_record(
            entity, scope, data, None, ReferenceCheck(self, entity), internal=internal
        )
        self.crm.hook("crm_validate_record")(event=event)
        self.session.add(event.record)
        self._flush()
        self._after_write(event)
        return self._finish(event, commit)

    def create_many(
        self, entity: Entity | str, rows: Sequence[Mapping[str, Any]], *, commit: bool = True
    ) -> list[Any]:
        """Create many records from untrusted ``rows`` with one flush (an import batch).

        Each row goes through the same steps as ``create`` - schema validation, permission
        check, custom fields, ``prepare``, the ``crm_validate_record`` veto - but the work
        that does not depend on the row is done once (permission scope, custom field
        definitions, the hook caller), the records are inserted in one multi-row INSERT and
        their audit rows and search documents with one ``executemany`` each.

        Returns one item per row, in order: the new record, or the ``CRMError`` that refused
        the row (nothing of that row is written), without its traceback. A database error (a
        unique value already taken...) rolls back the session and raises ``Conflict`` for the
        whole batch: the caller may retry row by row with ``create`` to find the culprit.
        """
        entity = self.entity(entity)
        scope = self.access.scope(entity, "create")
        if scope is None:
            raise PermissionDenied(
                "You may not %(action)s %(things)s.", params=_terms(entity, "create", plural=True)
            )
        defs = self.crm.custom_field_defs(self.session, entity) if entity.has_custom_fields else []
        veto = repeated_caller(self.crm.hook("crm_validate_record"))
        results: list[Any] = []
        events: list[RecordEvent] = []
        check = ReferenceCheck(self, entity)
        check.prefetch(rows)
        with batch_region():
            for data in rows:
                try:
                    event = self._new_record(entity, scope, data, defs, check)
                    veto(event=event)
                except CRMError as exc:
                    results.append(_without_traceback(exc))
                    continue
                results.append(event)
                events.append(event)
        if not events:
            return results
        self._insert_many(entity, events)
        self._after_write_many(entity, events)
        if commit:
            self.commit()
        return [r.record if isinstance(r, RecordEvent) else r for r in results]

    def _new_record(
        self,
        entity: Entity,
        scope: str,
        data: Mapping[str, Any],
        defs: list[FieldDef] | None,
        check: ReferenceCheck,
        internal: Mapping[str, Any] | None = None,
    ) -> RecordEvent:
        """A transient record built from ``data`` and its create event: the steps of a create
        up to the veto hook (``defs``: the custom field definitions, ``None`` to read them)."""
        values = self._load(entity, entity.create_schema, data)
        maker = blank(entity.model)
        record = maker.new()
        self._apply_owner(entity, scope, values, current=None)
        custom = self._custom_fields(entity, values.pop("custom_fields", None) or {}, defs=defs)
        self._check_references(check, values, None)
        if entity.prepare:
            entity.prepare(values, None, self)
        values.update(internal or {})
        maker.fill(record, values)
        changes: dict[str, tuple[Any, Any]] = {}
        for name, value in values.items():
            # a true value is never one of the empties: only the false ones are compared
            if value or value not in (None, "", [], {}):
                changes[name] = (None, value)
        if "custom_fields" in values:  # set by ``prepare`` or the caller: theirs is stored
            custom = values["custom_fields"]
        elif custom is not None:
            maker.fill(record, {"custom_fields": custom})
        for name, value in (custom or {}).items() if entity.has_custom_fields else ():
            if value is not None:
                changes[f"custom_fields.{name}"] = (None, value)
        return RecordEvent(entity, record, "create", changes, self.user, self)

    def update(
        self,
        entity: Entity | str,
        record_or_id: Any,
        data: Mapping[str, Any],
        *,
        expected_version: int | None = None,
        commit: bool = True,
        internal: Mapping[str, Any] | None = None,
    ) -> Any:
        """Change the fields in ``data``; ``expected_version`` guards against lost updates."""
        entity = self.entity(entity)
        record = (
            record_or_id
            if isinstance(record_or_id, entity.model)
            else self.get(entity, record_or_id, "update")
        )
        if isinstance(record_or_id, entity.model) and not self.access.allows_record(
            entity, "update", record, self.session
        ):
            raise PermissionDenied(
                "You may not %(action)s this %(thing)s.", params=_terms(entity, "update")
            )
        if expected_version is not None and record.version != expected_version:
            raise StaleRecord("The record was changed by someone else; reload it and try again.")
        values = self._load(entity, entity.update_schema, data)
        scope = self.access.scope(entity, "update") or "own"
        self._apply_owner(entity, scope, values, current=record)
        try:
            event = self._apply_update(entity, record, values, internal)
            if not event.changes:
                return record
            self.crm.hook("crm_validate_record")(event=event)
        except Exception:
            # a refused change must not linger on the record for the session's next commit
            self.session.expire(record)
            raise
        self._flush()
        self._after_write(event)
        return self._finish(event, commit)

    def _apply_update(
        self,
        entity: Entity,
        record: Any,
        values: dict[str, Any],
        internal: Mapping[str, Any] | None,
    ) -> RecordEvent:
        """Set the new values on ``record``; the event lists what changed."""
        changes: dict[str, tuple[Any, Any]] = {}
        if "custom_fields" in values:
            before = dict(record.custom_fields or {})
            cleaned = self._custom_fields(entity, values.pop("custom_fields") or {}, record)
            if cleaned is not None:
                record.custom_fields = cleaned
            for name in set(before) | set(record.custom_fields):
                if before.get(name) != record.custom_fields.get(name):
                    changes[f"custom_fields.{name}"] = (
                        before.get(name),
                        record.custom_fields.get(name),
                    )
        self._check_references(ReferenceCheck(self, entity), values, record)
        if entity.prepare:
            entity.prepare(values, record, self)
        values.update(internal or {})
        for name, value in values.items():
            current = getattr(record, name)
            if current != value:
                changes[name] = (current, value)
                setattr(record, name, value)
        return RecordEvent(entity, record, "update", changes, self.user, self)

    def preview(
        self, entity: Entity | str, data: Mapping[str, Any], record: Any = None
    ) -> dict[str, Any]:
        """The values that creating a record from ``data`` (or updating ``record`` with it)
        would store, computed ones included (a quote's line totals), without writing anything.

        The same steps as the write up to the entity's ``prepare`` - schema validation, the
        permission check, custom fields - so it raises the same ``ValidationError`` or
        ``PermissionDenied``; the veto hook, audit and search are left to the real write.
        """
        entity = self.entity(entity)
        with self.session.no_autoflush:
            if record is None:
                scope = self.access.scope(entity, "create")
                if scope is None:
                    raise PermissionDenied(
                        "You may not %(action)s %(things)s.",
                        params=_terms(entity, "create", plural=True),
                    )
                defs = (
                    self.crm.custom_field_defs(self.session, entity)
                    if entity.has_custom_fields
                    else []
                )
                new = self._new_record(
                    entity, scope, data, defs, ReferenceCheck(self, entity)
                ).record
                if new in self.session:
                    self.session.expunge(new)
                return {name: getattr(new, name, None) for name in entity.columns}
            if not self.access.allows_record(entity, "update", record, self.session):
                raise PermissionDenied(
                    "You may not %(action)s this %(thing)s.", params=_terms(entity, "update")
                )
            values = self._load(entity, entity.update_schema, data)
            values.pop("custom_fields", None)
            self._apply_owner(entity, self.access.scope(entity, "update") or "own", values, record)
            if entity.prepare:
                entity.prepare(values, record, self)
            return {**{n: getattr(record, n, None) for n in entity.columns}, **values}

    def delete(self, entity: Entity | str, record_or_id: Any, *, commit: bool = True) -> Any:
        """Move a record to the trash (it keeps every value and can be restored)."""
        entity = self.entity(entity)
        record = self.get(entity, getattr(record_or_id, "id", record_or_id), "delete")
        event = RecordEvent(
            entity, record, "delete", {"deleted_at": (None, utcnow())}, self.user, self
        )
        self.crm.hook("crm_validate_record")(event=event)
        record.deleted_at = event.changes["deleted_at"][1]
        self._flush()
        self._after_write(event)
        return self._finish(event, commit)

    def restore(self, entity: Entity | str, record_id: Any, *, commit: bool = True) -> Any:
        """Bring a record back from the trash (needs the ``delete`` permission on it)."""
        entity = self.entity(entity)
        record = self.get(entity, record_id, "delete", trashed=True)
        event = RecordEvent(
            entity, record, "restore", {"deleted_at": (record.deleted_at, None)}, self.user, self
        )
        self.crm.hook("crm_validate_record")(event=event)
        record.deleted_at = None
        self._flush()
        self._after_write(event)
        return self._finish(event, commit)

    def commit(self) -> None:
        """Commit pending writes, then fire their event hooks."""
        try:
            self.session.commit()
        except IntegrityError as exc:
            self.session.rollback()
            self._pending.clear()
            raise Conflict(_integrity_message(exc)) from None
        pending, self._pending = self._pending, []
        callers: dict[str, Any] = {}  # one look-up per hook for all the events of a batch
        for event in pending:
            hook = _EVENT_HOOKS.get(event.action, "crm_record_updated")
            caller = callers[hook] if hook in callers else self._caller(hook, callers)
            if caller is not None:  # None: no enabled plugin listens (an import's usual case)
                self._fire(caller, hook, event)

    def rollback(self) -> None:
        """Roll back the session and drop the events of writes not committed."""
        self.session.rollback()
        self._pending.clear()

    # steps ------------------------------------------------------------------------------------

    def _load(
        self, entity: Entity, schema: marshmallow.Schema, data: Mapping[str, Any]
    ) -> dict[str, Any]:
        if not isinstance(data, Mapping):
            raise ValidationError("Expected an object of fields.")
        try:
            values = entity.load(schema, dict(data))
        except marshmallow.ValidationError as exc:
            raise ValidationError(_messages(exc)) from None
        for name in SYSTEM_FIELDS:
            values.pop(name, None)
        errors: dict[str, list[str]] = {}
        problem_of = entity.column_checks.problem
        for name, value in values.items():
            problem = problem_of(name, value)
            if problem is not None:
                errors[name] = [problem]
            elif isinstance(value, dt.datetime) and value.tzinfo is not None:
                values[name] = value.astimezone(dt.UTC)  # checked above: cannot overflow
        if errors:
            raise ValidationError(errors)
        if "tags" in values:
            values["tags"] = list(dict.fromkeys(t.strip() for t in values["tags"] or ()))
            if "" in values["tags"]:  # a tag of blanks only ("\f"): nothing to file it under
                raise ValidationError({"tags": ["Tags are 1 to 50 characters."]})
            if len(values["tags"]) > MAX_TAGS:
                raise ValidationError({"tags": [TOO_MANY_TAGS]})
        return values

    def _check_references(self, check: ReferenceCheck, values: dict[str, Any], record: Any) -> None:
        """Refuse (naming the field) references in the input to records that do not exist or
        that the writer may not read; runs before ``prepare``, which may then trust them (and
        whose derived values are not checked)."""
        errors = check.errors(values, record)
        if errors:
            raise ValidationError(errors)

    def _apply_owner(
        self, entity: Entity, scope: str, values: dict[str, Any], current: Any
    ) -> None:
        owner_field = entity.owner_field
        if not owner_field or owner_field == "id":
            return
        if owner_field not in values:
            if current is None and self.access.user_id is not None:
                values[owner_field] = self.access.user_id
            return
        wanted = values[owner_field]
        if current is not None and wanted == getattr(current, owner_field):
            return
        if not self.access.owner_allowed(scope, wanted, self.session):
            raise ValidationError({owner_field: ["You may not assign records to this user."]})
        if wanted is not None:
            from .users.models import User

            if self.session.get(User, wanted) is None:
                raise ValidationError({owner_field: ["No such user."]})

    def _custom_fields(
        self,
        entity: Entity,
        values: Mapping[str, Any],
        record: Any = None,
        defs: list[FieldDef] | None = None,
    ) -> dict[str, Any] | None:
        """The custom fields to store from the input's ``values``, checked against their
        definitions (``defs``, ``None`` to read them) and merged into those of ``record``
        (``None``: a new record); ``None`` when they stay as they are."""
        if not entity.has_custom_fields:
            if values:
                raise ValidationError({"custom_fields": ["This entity has no custom fields."]})
            return None
        creating = record is None
        if not values and not creating:
            return None
        if defs is None:
            defs = self.crm.custom_field_defs(self.session, entity)
        if not values and not any(d.required for d in defs):
            return {}
        current = None if creating else record.custom_fields
        cleaned, errors = clean_values(defs, values, current)
        if errors:
            raise ValidationError({"custom_fields": errors})
        return cleaned

    def _flush(self) -> None:
        try:
            self.session.flush()
        except StaleDataError:
            self.session.rollback()
            raise StaleRecord(
                "The record was changed by someone else; reload it and try again."
            ) from None
        except IntegrityError as exc:
            self.session.rollback()
            raise Conflict(_integrity_message(exc)) from None
        except DataError:  # a backstop: values are checked against their columns in _load
            self.session.rollback()
            raise ValidationError("A value is out of range or too long for its field.") from None

    def _insert_many(self, entity: Entity, events: list[RecordEvent]) -> None:
        """Insert the events' new records with multi-row ``INSERT ... RETURNING id`` statements.

        One statement of every column handed to the driver (``crmcore.bulk_insert``), without
        the unit of work's bookkeeping, SQLAlchemy's per-row parameter processing or the
        loading of a new object per returned row: each record's values (as ``prepare`` and the veto
        hook left them) and its columns' Python defaults go into the statement; the records
        then take their ids and defaults and join the session as if loaded, so that later
        changes to them are flushed as usual. A record with a related object set (a
        relationship rather than a column) or already in the session, and an entity whose
        columns the statement cannot fill alone (a server default, a default reading the
        statement's context, a mapper over several tables), take the unit of work instead.
        """
        columns = entity.columns.keys()
        plan = insert_plan(entity)
        session = self.session
        rows: list[tuple[Any, ...]] = []
        keys: list[str] = []  # the plan's columns, in order
        fixed: dict[str, Any] = {}  # their defaults: a value, or a function per row in ``made``
        made: list[tuple[str, Any]] = []
        now = utcnow()
        for key, _name, default, call in plan.columns if plan is not None else ():
            keys.append(key)
            if call:
                # the function itself, not SQLAlchemy's wrapper taking the statement's context
                # (which plans leave out); the batch's records take one timestamp, as one
                # statement with now() would
                default = default.__wrapped__
                if default is utcnow:
                    default, call = now, False
            if call:
                made.append((key, default))
            else:
                fixed[key] = default
        # a row's values in the plan's order, picked from its record's values over the defaults
        pick = itemgetter(*keys) if len(keys) > 1 else lambda merged: (merged[keys[0]],)
        plain = frozenset(columns) | {"_sa_instance_state"}  # what a record holds, at most
        states: list[dict[str, Any]] = []  # each record's values with its defaults
        for event in events:
            values = event.record.__dict__
            # a record already in the session was cascaded there by a related object a veto
            # hook added (a deal's stage history row): the unit of work inserts both in order
            if (
                plan is None
                or (
                    not values.keys() <= plain
                    and any(not k.startswith("_sa_") for k in values.keys() - columns)
                )
                or event.record in session
            ):
                session.add_all([e.record for e in events])
                self._flush()
                return
            merged = {**fixed, **values}
            for key, make in made:
                if key not in values:
                    merged[key] = make()
            rows.append(pick(merged))
            states.append(merged)
        assert plan is not None  # events is never empty
        try:
            ids = insert_rows(session.connection(), plan, rows)
        except IntegrityError as exc:
            session.rollback()
            raise Conflict(_integrity_message(exc)) from None
        except DataError:  # a backstop, as in _flush
            session.rollback()
            raise ValidationError("A value is out of range or too long for its field.") from None
        identities = session.identity_map
        identity_class = plan.mapper._identity_class
        id_key = plan.id_key
        # the cascade of ``Session.add`` walks every relationship of every record, and finds
        # nothing: the records hold only column values (checked above)
        attach = getattr(session, "_update_impl", None)
        attributes = frozenset(plan.mapper.class_manager)
        for event, merged, record_id in zip(events, states, ids, strict=True):
            record = event.record
            # an object of a rolled-back insert stays in the session, expired, under an id
            # that SQLite hands out again: the new record takes its place
            stale = identities.get((identity_class, (record_id,), None))
            if stale is not None:
                session.expunge(stale)
            # straight into the instance's dict (the record's own values are the row's, the
            # others its defaults): the next call marks every value present as loaded, so
            # there is no change history to record on the way
            state = record.__dict__
            state.update(merged)
            state[id_key] = record_id
            detach_as_loaded(record, identity_class, (record_id,), attributes)
            if attach is not None:
                attach(instance_state(record))
            else:  # pragma: no cover - a SQLAlchemy without it
                session.add(record)

    def _after_write(self, event: RecordEvent) -> None:
        entity, record = event.entity, event.record
        record_audit(
            self.session, entity.name, record.id, event.action, self.access.user_id, event.changes
        )
        if event.action == "delete" or getattr(record, "deleted_at", None) is not None:
            # trashed records stay out of search, even when changed in the trash
            self.crm.search.remove(self.session, entity, record.id)
        else:
            self.crm.search.update(self.session, entity, record, created=event.action == "create")
        self._written([event])
        self._pending.append(event)

    def _after_write_many(self, entity: Entity, events: list[RecordEvent]) -> None:
        """Audit rows and search documents of new records, each kind in one executemany."""
        user_id = self.access.user_id
        records = [e.record for e in events]
        record_audit_many(
            self.session,
            [
                (entity.name, record_id, e.action, user_id, e.changes)
                for e, record_id in zip(events, loaded_ids(records), strict=True)
            ],
        )
        self.crm.search.add_many(self.session, entity, records)
        self._written(events)
        self._pending.extend(events)

    def _written(self, events: list[RecordEvent]) -> None:
        """The in-transaction hook; when a listener fails, the write is rolled back with it."""
        try:
            self.crm.hook("crm_records_written")(events=events)
        except Exception:
            self.rollback()
            raise

    def _finish(self, event: RecordEvent, commit: bool) -> Any:
        if commit:
            self.commit()
        return event.record

    def _caller(self, hook: str, callers: dict[str, Any]) -> Any:
        """The caller of the after-commit ``hook``, or ``None`` when no enabled plugin listens;
        kept in ``callers`` for the next events of the same commit."""
        caller = self.crm.hook(hook)
        listeners = getattr(caller, "get_hookimpls", None)
        found = callers[hook] = (
            repeated_caller(caller) if listeners is None or listeners() else None
        )
        return found

    def _fire(self, caller: Any, hook: str, event: RecordEvent) -> None:
        """Call the after-commit ``hook`` of ``event``."""
        try:
            caller(event=event)
        except Exception:  # the write is committed; a failing listener must not undo the answer
            log.exception("%s failed for %s %s", hook, event.entity.name, event.record.id)


#: The after-commit hook of each action (``update`` and ``restore``: ``crm_record_updated``).
_EVENT_HOOKS = {"create": "crm_record_created", "delete": "crm_record_deleted"}


def _terms(entity: Entity, action: str = "", plural: bool = False) -> dict[str, Any]:
    """Parameters of permission and not-found messages, translated where they are shown."""
    out: dict[str, Any] = {"thing": Term(entity.title, lower=True)}
    if plural:
        out = {"things": Term(entity.title_plural, lower=True)}
    if action:
        out["action"] = Term(action, "verb")
    return out


def _messages(exc: marshmallow.ValidationError) -> dict[str, Any]:
    messages = exc.messages
    if isinstance(messages, list):
        return {"_schema": messages}
    return dict(messages)


def _integrity_message(exc: IntegrityError) -> str:
    text = str(exc.orig).lower()
    if "unique" in text or "duplicate" in text:
        return "A record with the same unique value already exists."
    if "foreign key" in text:
        return "A referenced record does not exist."
    return "The change conflicts with existing data."
