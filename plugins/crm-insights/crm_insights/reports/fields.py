"""Which fields of an entity a report may use, and of what kind (the allow-list).

A report sees the fields the entity's API shows (its dump schema), plus the id, the
timestamps and the owner - never a write-only field such as a password hash, never JSON
columns (tags, custom fields, lines), whose values are not one comparable value each - and
each custom field of the entity (the instance's and the enabled plugins', as lists and the
filter language know them) as ``custom.<name>``: a value inside the JSON column, read as its
type.
"""

from __future__ import annotations

import datetime as dt
import decimal
from dataclasses import dataclass
from typing import Any

from crmcore.references import references
from sqlalchemy import JSON
from sqlalchemy import types as satypes

#: Field kinds and the measures each takes.
MEASURES_BY_KIND: dict[str, frozenset[str]] = {
    "number": frozenset({"sum", "avg", "min", "max", "count_distinct"}),
    "date": frozenset({"min", "max", "count_distinct"}),
    "datetime": frozenset({"min", "max", "count_distinct"}),
    "text": frozenset({"count_distinct"}),
    "boolean": frozenset({"count_distinct"}),
    "reference": frozenset({"count_distinct"}),
}
#: Kinds a date bucket applies to.
DATE_KINDS = frozenset({"date", "datetime"})
#: The report kind of each custom field type.
CUSTOM_KINDS = {
    "text": "text",
    "choice": "text",
    "number": "number",
    "date": "date",
    "boolean": "boolean",
}
#: Prefix of a custom field's name in reports (as in the list filter language).
CUSTOM = "custom."


@dataclass(frozen=True)
class ReportField:
    """One field a report may group, filter or measure by.

    :ivar name: the column's name on its entity.
    :ivar kind: ``number``, ``date``, ``datetime``, ``text``, ``boolean`` or ``reference``.
    :ivar decimal: whether numbers are decimals (money): summed apart per currency.
    :ivar target: for a reference, the referenced entity's name.
    :ivar custom: the type of a custom field (``custom.<name>``), ``None`` for a column.
    :ivar money: a line's amount (two decimals); other decimals of a line read as written.
    """

    name: str
    kind: str
    decimal: bool = False
    target: str | None = None
    custom: str | None = None
    money: bool = False


def _python_type(column_type: Any) -> type | None:
    if isinstance(column_type, satypes.TypeDecorator):
        column_type = column_type.impl_instance
    try:
        found: type = column_type.python_type
    except NotImplementedError:
        return None
    return found


def report_fields(service: Any, entity: Any) -> dict[str, ReportField]:
    """The fields of ``entity`` a report may use, by name."""
    schema_fields = entity.dump_schema.fields
    wanted = {name for name, f in schema_fields.items() if not f.load_only}
    wanted |= {"id", "created_at", "updated_at"}
    if entity.owner_field:
        wanted.add(entity.owner_field)
    refs = references(service, entity)
    out: dict[str, ReportField] = {}
    for name in sorted(wanted):
        column = entity.columns.get(name)
        if column is None or isinstance(column.type, JSON) or name in ("tags", "custom_fields"):
            continue
        ref = refs.get(name)
        if name == "id" or (ref is not None and ref.target is not None):
            out[name] = ReportField(name, "reference", target=ref.target if ref else None)
            continue
        if ref is not None:  # polymorphic id: a number that means nothing summed
            out[name] = ReportField(name, "reference")
            continue
        kind = _kind(_python_type(column.type))
        if kind is not None:
            is_decimal = kind == "number" and _python_type(column.type) is decimal.Decimal
            out[name] = ReportField(name, kind, decimal=is_decimal)
    if entity.has_custom_fields:
        for definition in service.crm.custom_field_defs(service.session, entity):
            kind = CUSTOM_KINDS.get(definition.type)
            if kind is not None:
                key = CUSTOM + definition.name
                out[key] = ReportField(key, kind, custom=definition.type)
    return out


def _kind(python_type: type | None) -> str | None:
    if python_type is bool:
        return "boolean"
    if python_type in (int, float, decimal.Decimal):
        return "number"
    if python_type is dt.datetime:
        return "datetime"
    if python_type is dt.date:
        return "date"
    if python_type is str:
        return "text"
    return None
