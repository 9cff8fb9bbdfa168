"""API list statements built once per user, scope and query shape, then reused.

A list page's statement - the scoped ``SELECT`` of the records the user may read, the trash
condition, the sort, the keyset cursor, the limit, the columns - costs building per request,
and SQLAlchemy computes its cache key (a walk of the whole statement) each time it meets a new
statement object. For the plain pages most clients ask for (no filter, no search: every page
of a paging client) :class:`ListStatements` keeps the built statement per key, and a statement
object reused keeps its cache key (SQLAlchemy memoizes it on the object); the cursor's values
are bound parameters given at execution.

The key holds everything the statement is built from, so a statement never serves another
user or another scope: the entity, the trash flag, the **user's id**, the user's read scope on
the entity (and, for an entity attached to others' records, the read scope on each enabled
entity), the sort, the cursor's shape, the limit and the selected columns. A role or grant
changed gives new scopes and so a new key; nothing is ever looked up without the user's id.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import replace
from threading import Lock
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, bindparam

from . import listing

if TYPE_CHECKING:
    from ..records import RecordService
    from ..registry import Entity

CURSOR_VALUE = "crm_cursor_value"
CURSOR_ID = "crm_cursor_id"
#: statements kept per app; the least recently used go first
MAX_STATEMENTS = 1024


class ListStatements:
    """Built list statements of one app (``crm.list_statements``)."""

    def __init__(self, max_statements: int = MAX_STATEMENTS) -> None:
        self.max_statements = max_statements
        self._statements: OrderedDict[tuple[Any, ...], Select[Any]] = OrderedDict()
        self._lock = Lock()

    @staticmethod
    def of(crm: Any) -> ListStatements:
        """The statements of ``crm``'s app (made by ``init_api``)."""
        statements: ListStatements = crm.list_statements
        return statements

    def page(
        self,
        service: RecordService,
        entity: Entity,
        params: listing.ListParams,
        columns: dict[str, Any] | None,
    ) -> tuple[Select[Any], dict[str, Any]] | None:
        """The statement of one list page (``limit + 1`` rows, ``columns`` only when given)
        and the values to execute it with; ``None`` for a page with filters or a search,
        which the caller builds itself. Raises ``PermissionDenied`` like
        :meth:`RecordService.query` when the user may not read the entity."""
        if params.filters or params.q:
            return None
        values: dict[str, Any] = {}
        cursor_shape: tuple[bool, ...] = ()
        if params.cursor is not None:
            value, last_id = params.cursor
            cursor_shape = (value is None,)
            values[CURSOR_ID] = last_id
            if value is not None:
                values[CURSOR_VALUE] = value
        key = (
            entity.plural,
            params.trashed,
            *scope_key(service, entity),
            params.sort_field,
            params.descending,
            cursor_shape,
            params.limit,
            tuple(columns) if columns is not None else None,
        )
        with self._lock:
            stmt = self._statements.get(key)
            if stmt is not None:
                self._statements.move_to_end(key)
                return stmt, values
        stmt = _build(service, entity, params, columns)
        with self._lock:
            self._statements[key] = stmt
            if len(self._statements) > self.max_statements:
                self._statements.popitem(last=False)
        return stmt, values

    def clear(self) -> None:
        """Forget every statement."""
        with self._lock:
            self._statements.clear()


def scope_key(service: RecordService, entity: Entity) -> tuple[Any, ...]:
    """What the scoped statement of ``service.query(entity, "read")`` depends on: the user's
    id (``None`` for the system), the read scope on the entity and, for an entity attached to
    other records (``linked_to``), the read scope on every enabled entity."""
    access = service.access
    key: tuple[Any, ...] = (access.user_id, access.is_system, access.scope(entity, "read"))
    if entity.linked_to is not None:
        key += (tuple((e.plural, access.scope(e, "read")) for e in service.crm.entities()),)
    return key


def _build(
    service: RecordService,
    entity: Entity,
    params: listing.ListParams,
    columns: dict[str, Any] | None,
) -> Select[Any]:
    stmt = service.query(entity, "read", trashed=params.trashed)
    if params.cursor is not None:
        value: Any = None if params.cursor[0] is None else bindparam(CURSOR_VALUE)
        last_id: Any = bindparam(CURSOR_ID)
        params = replace(params, cursor=(value, last_id))
    stmt = listing.apply_sort(entity, stmt, params).limit(params.limit + 1)
    return stmt.with_only_columns(*columns.values()) if columns is not None else stmt
