"""The list language shared by every collection: filters, sort, keyset cursor, search.

``?limit=25&cursor=...&sort=-updated_at&q=jose&city=Madrid&created_at__gte=2026-01-01``

Fields are allow-listed per entity (``Entity.filterable``/``Entity.sortable``); values are
converted by the column's type and bound as parameters. Anything else is a ``ValidationError``
(400), never a 500.
"""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from itsdangerous import BadSignature, Serializer, URLSafeSerializer
from itsdangerous.encoding import base64_encode
from sqlalchemy import (
    JSON,
    Select,
    String,
    and_,
    cast,
    exists,
    false,
    func,
    literal_column,
    or_,
    select,
    type_coerce,
)
from sqlalchemy import types as satypes
from sqlalchemy.dialects.postgresql import JSONB

from ..audit import jsonable
from ..customfields import FieldDef, coerce
from ..errors import CRMError
from ..parsing import finite_decimal
from ..records import value_problem
from ..registry import Entity

DEFAULT_LIMIT = 25
MAX_LIMIT = 200
OPERATORS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "contains", "isnull")
RESERVED = {"limit", "cursor", "sort", "q", "trashed"}
#: what a JSON list of tags supports: has the tag (``eq``), has one of them, lacks it
TAG_OPERATORS = ("eq", "in", "ne")
#: per custom field type, the operators that make sense
CUSTOM_OPERATORS = {
    "text": ("eq", "ne", "in", "contains", "isnull"),
    "choice": ("eq", "ne", "in", "isnull"),
    "boolean": ("eq", "ne", "isnull"),
    "number": ("eq", "ne", "gt", "gte", "lt", "lte", "in", "isnull"),
    "date": ("eq", "ne", "gt", "gte", "lt", "lte", "in", "isnull"),
}


class BadQuery(CRMError):
    status = 400
    title = "Bad request"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.messages = {field: [message]}


@dataclass
class ListParams:
    limit: int
    sort_field: str
    descending: bool
    cursor: tuple[Any, int] | None
    q: str
    trashed: bool
    filters: list[tuple[str, str, Any]]  # (field, operator, value)


def _python_type(column: Any) -> type:
    column_type = column.type
    if isinstance(column_type, satypes.TypeDecorator):  # AwareDateTime compares as a datetime
        column_type = column_type.impl_instance
    try:
        return column_type.python_type  # type: ignore[no-any-return]
    except NotImplementedError:
        return object


def convert(entity: Entity, field: str, raw: str) -> Any:
    """Turn a query-string value into the column's Python type, or raise ``BadQuery``."""
    column = entity.attribute(field)
    kind = _python_type(column)
    value = _convert(field, kind, raw)
    problem = value_problem(column.type, value)
    if problem is not None:
        raise BadQuery(field, problem)
    return value


def _convert(field: str, kind: type, raw: str) -> Any:
    try:
        if kind is bool:
            lowered = raw.strip().lower()
            if lowered not in ("true", "false", "1", "0"):
                raise ValueError
            return lowered in ("true", "1")
        if kind is int:
            return int(raw)
        if kind is decimal.Decimal:
            return finite_decimal(raw)  # not NaN, sNaN, Infinity or 1e999999999
        if kind is float:
            number = float(raw)
            if not math.isfinite(number):
                raise ValueError(raw)
            return number
        if kind is dt.datetime:
            value = dt.datetime.fromisoformat(raw)
            return value.astimezone(dt.UTC) if value.tzinfo else value.replace(tzinfo=dt.UTC)
        if kind is dt.date:
            return dt.date.fromisoformat(raw)
        if kind is dt.time:
            return dt.time.fromisoformat(raw)
    except (ValueError, decimal.InvalidOperation, ArithmeticError):
        raise BadQuery(field, f"{raw[:50]!r} is not a valid value for {field}.") from None
    if len(raw) > 500:
        raise BadQuery(field, "Value too long.")
    return raw


def parse(
    entity: Entity,
    args: Mapping[str, str] | Any,
    secret: str,
    custom_defs: Callable[[], Iterable[FieldDef]] | None = None,
) -> ListParams:
    """Read and check list parameters from a request's query string.

    ``custom_defs`` gives the entity's custom field definitions; it is only called when a
    ``custom.<name>`` filter is present.
    """
    try:
        limit = int(args.get("limit", DEFAULT_LIMIT))
    except ValueError:
        raise BadQuery("limit", "Must be a whole number.") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise BadQuery("limit", f"Must be between 1 and {MAX_LIMIT}.")
    sort = args.get("sort", "-id") or "-id"
    descending = sort.startswith("-")
    sort_field = sort[1:] if descending else sort
    if sort_field not in entity.sortable:
        allowed = ", ".join(sorted(entity.sortable))
        raise BadQuery("sort", f"Cannot sort by {sort_field!r}; use one of: {allowed}.")
    cursor = None
    if args.get("cursor"):
        cursor = _decode_cursor(entity, args["cursor"], sort, secret)
    trashed_raw = args.get("trashed", "false").lower()
    if trashed_raw not in ("true", "false", "1", "0"):
        raise BadQuery("trashed", "Must be true or false.")
    filters: list[tuple[str, str, Any]] = []
    by_name: dict[str, FieldDef] | None = None
    for key in args:
        if key in RESERVED:
            continue
        field, sep, op = key.partition("__")
        if sep and op not in OPERATORS:
            raise BadQuery(key, f"Unknown operator {op!r}; use one of: {', '.join(OPERATORS)}.")
        op = op or "eq"
        raws = args.getlist(key) if hasattr(args, "getlist") else [args[key]]
        if field.startswith("custom.") and entity.has_custom_fields:
            if by_name is None:
                by_name = {d.name: d for d in (custom_defs() if custom_defs else ())}
            definition = by_name.get(field.removeprefix("custom."))
            if definition is None:
                raise BadQuery(key, f"No custom field called {field.removeprefix('custom.')!r}.")
            for raw in raws:
                filters.append((field, op, _custom_value(key, definition, op, raw)))
            continue
        if field not in entity.filterable:
            raise BadQuery(key, f"Cannot filter by {field!r}.")
        if field == "tags" and op not in TAG_OPERATORS:
            raise BadQuery(key, f"Tags take the operators {', '.join(TAG_OPERATORS)}.")
        for raw in raws:
            filters.append((field, op, _filter_value(entity, field, op, raw)))
    return ListParams(
        limit,
        sort_field,
        descending,
        cursor,
        (args.get("q") or "")[:200],
        trashed_raw in ("true", "1"),
        filters,
    )


def _custom_value(key: str, definition: FieldDef, op: str, raw: str) -> Any:
    """A custom field filter's value, converted like the values stored on records."""
    if op not in CUSTOM_OPERATORS[definition.type]:
        raise BadQuery(
            key,
            f"A {definition.type} field takes the operators "
            f"{', '.join(CUSTOM_OPERATORS[definition.type])}.",
        )
    if op == "isnull":
        return _isnull_value(key, raw)
    if "\x00" in raw or len(raw) > 500:
        raise BadQuery(key, "Not a valid value.")
    if op == "contains":
        return raw
    try:
        if op == "in":
            return [coerce(definition, p) for p in raw.split(",") if p][:100]
        return coerce(definition, raw)
    except ValueError as exc:
        raise BadQuery(key, str(exc)) from None


def _isnull_value(field: str, raw: str) -> bool:
    if raw.lower() not in ("true", "false", "1", "0"):
        raise BadQuery(field, "isnull takes true or false.")
    return raw.lower() in ("true", "1")


def _filter_value(entity: Entity, field: str, op: str, raw: str) -> Any:
    if op == "isnull":
        return _isnull_value(field, raw)
    if "\x00" in raw:
        raise BadQuery(field, "Contains a NUL character.")
    if field == "tags" and op == "in":
        return [t for t in raw.split(",") if t][:100]
    if field == "tags" or op == "contains":
        if len(raw) > 200:
            raise BadQuery(field, "Value too long.")
        return raw
    if op == "in":
        parts = [p for p in raw.split(",") if p][:100]
        return [convert(entity, field, p) for p in parts]
    return convert(entity, field, raw)


def apply_filters(
    entity: Entity, stmt: Select[Any], params: ListParams, dialect: str
) -> Select[Any]:
    for field, op, value in params.filters:
        stmt = stmt.where(_condition(entity, field, op, value, dialect))
    return stmt


def _condition(entity: Entity, field: str, op: str, value: Any, dialect: str) -> Any:
    if field.startswith("custom."):
        return _custom_condition(entity, field.removeprefix("custom."), op, value)
    column = entity.attribute(field)
    if field == "tags" or isinstance(column.type, JSON):
        if op == "in":
            return or_(*(_json_contains(column, v, dialect) for v in value)) if value else false()
        if op == "ne":
            return ~_json_contains(column, value, dialect)
        return _json_contains(column, value, dialect)
    if op == "eq":
        if isinstance(value, str) and isinstance(column.type, String):
            return func.lower(column) == value.lower()
        return column == value
    if op == "ne":
        return or_(column != value, column.is_(None))
    if op == "gt":
        return column > value
    if op == "gte":
        return column >= value
    if op == "lt":
        return column < value
    if op == "lte":
        return column <= value
    if op == "in":
        return column.in_(value)
    if op == "contains":
        return cast(column, satypes.String).ilike(f"%{_escape_like(value)}%", escape="\\")
    if op == "isnull":
        return column.is_(None) if value else column.is_not(None)
    raise BadQuery(field, f"Unknown operator {op!r}.")


def _custom_condition(entity: Entity, name: str, op: str, value: Any) -> Any:
    """A condition on one custom field value, compared as its type (text ignoring case)."""
    element = entity.model.custom_fields[name]
    if op == "isnull":
        text = element.as_string()
        return text.is_(None) if value else text.is_not(None)
    values = value if op == "in" else [value]
    if values and isinstance(values[0], bool):
        column = element.as_boolean()
    elif values and isinstance(values[0], int | float):
        column = element.as_float()
    else:
        column = func.lower(element.as_string())
        values = [str(v).lower() for v in values]
    if op == "contains":
        return column.like(f"%{_escape_like(values[0])}%", escape="\\")
    if op == "in":
        return column.in_(values)
    if op == "ne":
        return or_(column != values[0], column.is_(None))
    return _compare(column, op, values[0])


def _compare(column: Any, op: str, value: Any) -> Any:
    return {
        "eq": column.__eq__,
        "gt": column.__gt__,
        "gte": column.__ge__,
        "lt": column.__lt__,
        "lte": column.__le__,
    }[op](value)


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _json_contains(column: Any, value: str, dialect: str) -> Any:
    """``value`` is an element of the JSON list in ``column``."""
    if dialect == "postgresql":
        # the mapped type is JSON with a JSONB variant; only JSONB knows containment (@>)
        return type_coerce(column, JSONB).contains([value])
    element = func.json_each(column).table_valued("value").alias("element")
    return exists(select(literal_column("1")).select_from(element).where(element.c.value == value))


def sort_key(column: Any) -> Any:
    """What a list sorted by ``column`` orders by: the column, or ``lower(column)`` when the
    model declares it ``info={"sort": "lower"}`` (a text column sorted regardless of case,
    which an index on ``lower(column)`` then serves)."""
    return func.lower(column) if column.info.get("sort") == "lower" else column


def apply_sort(entity: Entity, stmt: Select[Any], params: ListParams) -> Select[Any]:
    column = entity.attribute(params.sort_field)
    key = sort_key(column)
    pk = entity.model.id
    nullable = (
        column.nullable if hasattr(column, "nullable") else column.property.columns[0].nullable
    )
    if params.cursor is not None:
        value, last_id = params.cursor
        if value is not None and key is not column:
            value = func.lower(value)  # a cursor holds the value as stored
        stmt = stmt.where(_after(key, pk, value, last_id, params.descending, nullable))
    if params.sort_field == "id":
        return stmt.order_by(pk.desc() if params.descending else pk.asc())
    if params.descending:
        order = [key.desc().nulls_last() if nullable else key.desc(), pk.desc()]
    else:
        order = [key.asc().nulls_first() if nullable else key.asc(), pk.asc()]
    return stmt.order_by(*order)


def narrow(crm: Any, entity: Entity, stmt: Select[Any], params: ListParams) -> Select[Any]:
    """``stmt`` limited by a list's filters and search words (not sorted, not paged)."""
    stmt = apply_filters(entity, stmt, params, crm.engine.dialect.name)
    if params.q:
        ids = crm.search.record_ids(entity, params.q)
        if ids is not None:
            stmt = stmt.where(entity.model.id.in_(ids))
    return stmt


def export_order(entity: Entity, params: ListParams) -> tuple[str, Any]:
    """The ``crmcore.exporting.Order`` of a list: its sort, walked by keyset like its pages."""

    def apply(stmt: Select[Any], after: tuple[Any, int] | None) -> Select[Any]:
        return apply_sort(entity, stmt, replace(params, cursor=after))

    return params.sort_field, apply


#: query parameters of a list that an export of it ignores (it has every matching record)
NOT_FOR_EXPORT = ("limit", "cursor", "format", "trashed")


def _after(column: Any, pk: Any, value: Any, last_id: int, descending: bool, nullable: bool) -> Any:
    """Rows strictly after ``(value, last_id)`` in the sort order (nulls first ascending)."""
    if column is pk:
        return pk < last_id if descending else pk > last_id
    if not descending:
        if value is None:
            return or_(and_(column.is_(None), pk > last_id), column.is_not(None))
        return or_(column > value, and_(column == value, pk > last_id))
    if value is None:
        return and_(column.is_(None), pk < last_id)
    after = or_(column < value, and_(column == value, pk < last_id))
    return or_(after, column.is_(None)) if nullable else after


def encode_cursor(entity: Entity, record: Any, params: ListParams, secret: str) -> str:
    sort = ("-" if params.descending else "") + params.sort_field
    value = jsonable(getattr(record, params.sort_field))
    return _cursors(secret, entity.plural).dumps([sort, value, record.id])


class _CursorSerializer(URLSafeSerializer):
    """itsdangerous' URL-safe serializer without trying zlib on every cursor: a cursor is a
    few dozen bytes, and the compressor's set-up cost more than the rest of the signing.
    Cursors made compressed before still load (``.`` marks them)."""

    def dump_payload(self, obj: Any) -> bytes:
        return base64_encode(Serializer.dump_payload(self, obj))


@functools.lru_cache(maxsize=256)
def _cursors(secret: str, plural: str) -> URLSafeSerializer:
    """The serializer of one entity's cursors, built once per secret and entity."""
    return _CursorSerializer(secret, salt=f"cursor:{plural}")


def _decode_cursor(entity: Entity, raw: str, sort: str, secret: str) -> tuple[Any, int]:
    try:
        cursor_sort, value, last_id = _cursors(secret, entity.plural).loads(raw[:1000])
    except (BadSignature, ValueError, TypeError):
        raise BadQuery("cursor", "Invalid cursor; start again from the first page.") from None
    if cursor_sort != sort or not isinstance(last_id, int):
        raise BadQuery("cursor", "The cursor belongs to another sort order.")
    field = sort.lstrip("-")
    if value is not None and field != "id":
        value = convert(entity, field, str(value))
    return value, last_id
