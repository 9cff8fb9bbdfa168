"""Line items as a report source: each row of an entity's nested line list (an order's or a
quote's ``lines``) counted as one record, with the fields of its parent record beside it.

A source is named ``<plural>.<list>`` (``orders.lines``). Any entity qualifies whose dump
schema declares a list of nested objects (``fields.List(fields.Nested(S))``, what the kernel's
line editor edits) stored in a JSON column: the nested schema is the allow-list of the line's
fields (``line.<name>``), each read from the JSON as its schema type; a line field that refers
to an entity (a line's ``product_id``, see :func:`crmcore.references.nested_target`) is a
reference that can be joined (``line.product_id``). The rows come from the database's own JSON
table function - SQLite's ``json_each``, PostgreSQL's ``jsonb_array_elements`` or
``json_array_elements`` after the column's type - joined to the parent, so the parent's read
scope, filters and joins apply to the lines as they do to the parent's own report.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from crmcore.references import nested_target
from marshmallow import fields
from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    Float,
    Numeric,
    case,
    cast,
    false,
    func,
    literal,
    true,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.expression import column

from .fields import ReportField

#: Prefix of a line's fields and of joins along them (``line.quantity``, ``line.product_id``).
LINE = "line"
#: The alias of the line rows in the statement.
ALIAS = "report_line"


@dataclass(frozen=True)
class LineSource:
    """The lines of one list field of ``parent``.

    :ivar parent: the entity whose records hold the lines.
    :ivar field: the list field (``lines``).
    :ivar fields: the line's report fields, by name (without the ``line.`` prefix).
    :ivar targets: the entity each reference field of a line refers to, by field name.
    """

    parent: Any
    field: str
    fields: dict[str, ReportField]
    targets: dict[str, Any]

    @property
    def key(self) -> str:
        """The source's name in a definition (``orders.lines``)."""
        return f"{self.parent.plural}.{self.field}"


def line_lists(entity: Any) -> list[str]:
    """The nested line lists of ``entity``: list-of-objects fields of its dump schema stored
    in a JSON column."""
    out = []
    for name, schema_field in entity.dump_schema.fields.items():
        inner = getattr(schema_field, "inner", None)
        column_ = entity.columns.get(name)
        if (
            isinstance(schema_field, fields.List)
            and isinstance(inner, fields.Nested)
            and not schema_field.load_only
            and column_ is not None
            and isinstance(column_.type, JSON)
        ):
            out.append(name)
    return out


def _kind(schema_field: fields.Field) -> tuple[str, bool] | None:
    if isinstance(schema_field, fields.Boolean):
        return "boolean", False
    if isinstance(schema_field, fields.Decimal):
        return "number", True
    if isinstance(schema_field, fields.Integer | fields.Float):
        return "number", False
    if isinstance(schema_field, fields.DateTime):  # AwareDateTime too
        return "datetime", False
    if isinstance(schema_field, fields.Date):
        return "date", False
    if isinstance(schema_field, fields.String):
        return "text", False
    return None


def source(service: Any, entity: Any, name: str) -> LineSource | None:
    """The line source of ``entity``'s list ``name``, or ``None`` when it has no such list."""
    if name not in line_lists(entity):
        return None
    nested = entity.dump_schema.fields[name].inner
    found: dict[str, ReportField] = {}
    targets: dict[str, Any] = {}
    for field_name, schema_field in nested.schema.fields.items():
        if schema_field.load_only:  # input only, never stored with the line
            continue
        kind = _kind(schema_field)
        if kind is None:
            continue
        target = None
        if isinstance(schema_field, fields.Integer) and (
            field_name.endswith("_id") or "reference" in schema_field.metadata
        ):
            target = nested_target(service, field_name, schema_field)
        if target is not None:
            found[field_name] = ReportField(field_name, "reference", target=target.name)
            targets[field_name] = target
        else:
            money = bool(schema_field.metadata.get("money"))
            found[field_name] = ReportField(field_name, kind[0], decimal=kind[1], money=money)
    return LineSource(entity, name, found, targets)


def rows(src: LineSource, dialect: Any) -> Any:
    """The line rows of each parent record as a table-valued function (one ``value`` column,
    each line's JSON object), to join to the parent."""
    stored = src.parent.attribute(src.field)
    value = column("value", src.parent.columns[src.field].type)
    if dialect.name == "postgresql":
        is_jsonb = isinstance(stored.type.dialect_impl(dialect), postgresql.JSONB)
        elements = func.jsonb_array_elements if is_jsonb else func.json_array_elements
        typeof = func.jsonb_typeof if is_jsonb else func.json_typeof
        # anything but a list (a hand-edited row) gives no lines instead of an error
        listed = case((typeof(stored) == "array", stored), else_=cast(literal("[]"), stored.type))
        return elements(listed).table_valued(value, joins_implicitly=True).alias(ALIAS)
    listed = case((func.json_type(stored) == "array", stored), else_=literal("[]"))
    return (
        func.json_each(listed)
        .table_valued(value, column("type"), joins_implicitly=True)
        .alias(ALIAS)
    )


def join_rows(stmt: Any, table: Any, dialect: Any) -> Any:
    """``stmt`` (from the parent) with one row per line that is an object (parents without
    lines drop out)."""
    if dialect.name == "postgresql":
        is_object = func.jsonb_typeof(cast(table.c.value, postgresql.JSONB)) == "object"
    else:
        is_object = table.c.type == "object"
    return stmt.join(table, is_object)


#: What PostgreSQL casts without an error (a hand-edited line may hold anything).
NUMBER = r"^\s*-?[0-9]{1,20}(\.[0-9]{1,20})?\s*$"
INTEGER = r"^\s*-?[0-9]{1,18}\s*$"
DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"


def value(table: Any, info: ReportField, dialect_name: str) -> Any:
    """A line field read from the line's JSON as its type. ``info.name`` comes from the
    nested schema (the allow-list), never from the user as such. On PostgreSQL, a value that
    is not of the type reads as empty rather than failing the report (SQLite's casts never
    fail)."""
    element = table.c.value[info.name]
    if dialect_name == "postgresql":
        return _postgres_value(element, info)
    if info.kind == "reference":
        return element.as_integer()
    if info.kind == "number":
        if not info.decimal:
            return element.as_float()
        return element.as_numeric(28, 2 if info.money else 6)
    if info.kind == "boolean":
        return element.as_boolean()
    return element.as_string()


def _postgres_value(element: Any, info: ReportField) -> Any:
    text = element.as_string()
    if info.kind == "reference":
        return case((text.regexp_match(INTEGER), cast(text, BigInteger)), else_=None)
    if info.kind == "number":
        kind = Numeric(28, 2 if info.money else 6) if info.decimal else Float()
        return case((text.regexp_match(NUMBER), cast(text, kind)), else_=None)
    if info.kind == "boolean":
        return case((text == "true", true()), (text == "false", false()), else_=None)
    if info.kind == "date":
        return case((text.regexp_match(DATE), cast(text, Date)), else_=None)
    return text
