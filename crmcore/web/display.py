"""Showing record values on pages: references as linked titles, dates in the user's zone."""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from flask_babel import (
    format_currency,
    format_date,
    format_datetime,
    format_decimal,
    gettext,
)

from ..records import RecordService
from ..references import USER_FIELDS, Reference, references, titles, type_of
from ..registry import Entity
from .i18n import choice_text, enum_choices

__all__ = [
    "USER_FIELDS",
    "Link",
    "Links",
    "TableRow",
    "choice_of",
    "format_value",
    "referenced_entity",
    "resolve",
    "table_rows",
]


@dataclass(frozen=True)
class Link:
    """A referenced record: its title and, when the reader may open it, its page."""

    title: str
    url: str | None


class Links(dict[tuple[str, Any], Link]):
    """Resolved references by ``(field, id)`` (``(field, (entity, id))`` when polymorphic)."""

    def __init__(self, refs: Mapping[str, Reference]) -> None:
        super().__init__()
        self.refs = refs

    def of(self, name: str, row: Any) -> Link | None:
        """The link for ``row``'s field ``name``, ``None`` when it is not a reference."""
        ref = self.refs.get(name)
        value = getattr(row, name, None)
        if ref is None or value is None:
            return None
        if ref.type_field is None:
            return self.get((name, value))
        return self.get((name, (_type_name(row, ref), value)))


def referenced_entity(service: RecordService, entity: Entity, name: str) -> Entity | None:
    """The entity a (non-polymorphic) reference field points to (``company_id`` -> companies)."""
    ref = references(service, entity).get(name)
    if ref is None or ref.target is None:
        return None
    return service.entity(ref.target)


def resolve(
    service: RecordService, entity: Entity, rows: Iterable[Any], names: Iterable[str]
) -> Links:
    """Titles of the records that ``rows`` reference in fields ``names``, one query per target.

    Only records the reader may read get a title and a link; others show as ``#id``. Users
    are named for everyone, linked for those who may read users.
    """
    rows = list(rows)
    refs = references(service, entity)
    out = Links(refs)
    for name in names:
        ref = refs.get(name)
        if ref is None:
            continue
        wanted: dict[str, set[int]] = {}
        for row in rows:
            value = getattr(row, name, None)
            kind = ref.target if ref.type_field is None else _type_name(row, ref)
            if value is not None and kind:
                wanted.setdefault(kind, set()).add(value)
        for kind, ids in wanted.items():
            target = type_of(service, kind)
            if target is None:
                continue
            found = titles(service, target, ids)
            readable = service.access.can(target, "read")
            for record_id in ids:
                key = (name, record_id) if ref.type_field is None else (name, (kind, record_id))
                title = found.get(record_id)
                if title is None:
                    prefix = "" if ref.type_field is None else f"{gettext(target.title)} "
                    out[key] = Link(f"{prefix}#{record_id}", None)
                else:
                    url = f"/{target.plural}/{record_id}" if readable else None
                    out[key] = Link(title, url)
    return out


def _type_name(row: Any, ref: Reference) -> str | None:
    kind = getattr(row, ref.type_field or "", None)
    return kind if isinstance(kind, str) else None


def choice_of(entity: Entity, name: str, value: Any) -> Any:
    """``value`` of field ``name`` as shown: an enumerated value translated ("paid" -> "Pagado"),
    a list of them each translated; anything else unchanged."""
    if value is None or value == "":
        return value
    if entity.translated_titles and name in entity.title_fields and isinstance(value, str):
        return gettext(value)
    schema_field = entity.full_schema._declared_fields.get(name)
    if schema_field is None or enum_choices(schema_field) is None:
        return value
    if isinstance(value, list):
        return [choice_text(v, name) for v in value]
    return choice_text(value, name)


@dataclass(frozen=True)
class TableRow:
    """One record of a list page as the table shows it, computed once in the view.

    :ivar record: the record.
    :ivar title: its display title.
    :ivar cells: per column, ``(text, link)``: the value as shown and, for a reference, its
        resolved link (``None`` otherwise or when unresolved).
    """

    record: Any
    title: str
    cells: list[tuple[str, Link | None]]


def table_rows(
    entity: Entity, rows: Iterable[Any], columns: list[str], links: Links
) -> list[TableRow]:
    """The cells of a list page: values translated and formatted in Python, once per cell,
    so the template only places (and escapes) text."""
    translated = {
        col
        for col in columns
        if (entity.translated_titles and col in entity.title_fields)
        or _is_enum(entity.full_schema._declared_fields.get(col))
    }
    out: list[TableRow] = []
    for row in rows:
        currency = getattr(row, "currency", None)
        cells: list[tuple[str, Link | None]] = []
        for col in columns:
            value = getattr(row, col, None)
            if col in translated:
                value = choice_of(entity, col, value)
            cells.append((format_value(value, currency), links.of(col, row)))
        out.append(TableRow(row, entity.display(row), cells))
    return out


def _is_enum(schema_field: Any) -> bool:
    return schema_field is not None and enum_choices(schema_field) is not None


def format_value(value: Any, currency: Any = None) -> str:
    """A value as text for the user's locale and time zone; an amount of a record with a
    ``currency`` is shown as money in that currency (``1.234,50 €`` in Spanish)."""
    if value is None or value == "" or value == [] or value == {}:
        return ""
    if isinstance(value, decimal.Decimal):
        if currency and isinstance(currency, str) and len(currency) == 3:
            return format_currency(value, currency.upper())
        return format_decimal(value)
    if isinstance(value, bool):
        return gettext("Yes") if value else gettext("No")
    if isinstance(value, dt.datetime):
        return format_datetime(value, "medium")
    if isinstance(value, dt.date):
        return format_date(value, "medium")
    if isinstance(value, dt.time):
        return value.isoformat(timespec="minutes")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value) if isinstance(value, int) else format_decimal(value)
    if isinstance(value, list):
        if any(isinstance(v, dict) and "value" not in v for v in value):
            # rows of a nested list (quote lines): their table is on the record's page
            return gettext("Rows: %(num)d", num=len(value))
        return ", ".join(format_value(v) for v in value)
    if isinstance(value, dict):
        if "value" in value:
            prefix = f"{value.get('label')}: " if value.get("label") else ""
            return prefix + str(value["value"])
        return ", ".join(f"{k} {format_value(v)}" for k, v in value.items())
    return str(value)
