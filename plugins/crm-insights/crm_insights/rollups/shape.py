"""What a rollup holds: which fields of its entity it can group and sum, where each value
goes in a row, and the key and figures of one record.

A group field (dimension) is a reference, a whole number, a boolean, a short text or a date
(``Date``, kept by day: a timestamp's day depends on the time zone, so timestamps are not
kept). A reference to contacts or companies is not kept either: a merge re-points those
references without the record service. A summed field (measure) is a whole or decimal number.
Custom fields are not kept. Currency and owner are always part of the key when the entity
has them: reports keep currencies apart, and the reader's scope filters on the owner.
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from crmcore import CRMError
from sqlalchemy import String
from sqlalchemy import types as satypes

from ..reports.fields import ReportField, report_fields
from .models import MAX_GROUPS, MAX_MEASURES, Rollup

#: Entities whose references a merge re-points outside the record service.
MERGED = frozenset({"contact", "company"})
#: Longest text kept as a group value.
MAX_TEXT = 255


@dataclass(frozen=True)
class Dimension:
    """A group field and its slot in a row (``int_1``, ``text_2``, ``day_1``...)."""

    field: str
    slot: str
    kind: str  # "int", "bool", "text" or "day"


@dataclass(frozen=True)
class Shape:
    """A rollup bound to its registry entity."""

    rollup: Rollup
    entity: Any
    dims: tuple[Dimension, ...]
    measures: tuple[str, ...]  # measure n+1 is stored in sum_<n+1>/count_<n+1>
    currency: bool
    owner: str | None

    def dim(self, field: str) -> Dimension | None:
        """The dimension of ``field``, if the rollup groups by it."""
        return next((d for d in self.dims if d.field == field), None)

    def fields(self) -> list[str]:
        """Every column of the entity a row depends on."""
        out = [d.field for d in self.dims] + list(self.measures)
        out += ["currency"] if self.currency else []
        out += [self.owner] if self.owner else []
        return out


def dimension_kind(service: Any, entity: Any, info: ReportField | None) -> str | None:
    """The slot kind of a group field, or ``None`` when a rollup cannot keep it."""
    if info is None or info.custom is not None or entity.linked_to is not None:
        return None
    column = entity.columns.get(info.name)
    if column is None:
        return None
    if info.kind == "reference":
        target = service.crm.registry.get(info.target).name if info.target else None
        return None if target in MERGED else "int"
    if info.kind == "boolean":
        return "bool"
    if info.kind == "date" and isinstance(_impl(column.type), satypes.Date):
        return "day"
    if info.kind == "number" and not info.decimal and _python_type(column.type) is int:
        return "int"
    if info.kind == "text" and isinstance(column.type, String):
        length = column.type.length
        return "text" if length is not None and length <= MAX_TEXT else None
    return None


def measure_fits(entity: Any, info: ReportField | None) -> bool:
    """Whether a rollup can sum this field: a column of whole or decimal numbers (a float's
    sums would depend on the order of the additions)."""
    if info is None or info.custom is not None or info.kind != "number":
        return False
    column = entity.columns.get(info.name)
    return column is not None and _python_type(column.type) in (int, decimal.Decimal)


def make_shape(service: Any, rollup: Rollup) -> Shape | None:
    """The shape of ``rollup``; ``None`` when its entity or a field is gone (a plugin disabled,
    a column removed) or no longer fits."""
    try:
        entity = service.entity(rollup.entity)
    except CRMError:  # NotFound: the entity's plugin is disabled or gone
        return None
    if entity.linked_to is not None or "deleted_at" not in entity.columns:
        return None
    infos = report_fields(service, entity)
    dims = []
    for n, name in enumerate(rollup.groups[:MAX_GROUPS], start=1):
        kind = dimension_kind(service, entity, infos.get(name))
        if kind is None:
            return None
        slot = {"int": "int", "bool": "int", "text": "text", "day": "day"}[kind]
        dims.append(Dimension(name, f"{slot}_{n}", kind))
    measures = tuple(rollup.measures[:MAX_MEASURES])
    if not all(measure_fits(entity, infos.get(name)) for name in measures):
        return None
    currency = "currency" in entity.columns
    owner = entity.owner_field if entity.owner_field and entity.owner_field != "id" else None
    return Shape(rollup, entity, tuple(dims), measures, currency, owner)


def values_of(shape: Shape, get: Any) -> tuple[tuple[Any, ...], list[Any]] | None:
    """The key and figures of one record whose values ``get(name)`` returns; ``None`` for a
    record in the trash. The key: the group values (in slot order), currency, owner; the
    figures: ``[records, sum_1, count_1, ...]`` for this record alone."""
    if get("deleted_at") is not None:
        return None
    key: list[Any] = []
    for d in shape.dims:
        value = get(d.field)
        if d.kind == "bool" and value is not None:
            value = int(bool(value))
        key.append(value)
    key.append(get("currency") if shape.currency else None)
    key.append(get(shape.owner) if shape.owner else None)
    figures: list[Any] = [1]
    for name in shape.measures:
        value = get(name)
        figures += [value or 0, 0 if value is None else 1]
    return tuple(key), figures


def digest(key: tuple[Any, ...]) -> str:
    """The ``key`` column of a row: SHA-1 of the key's values as JSON."""
    text = json.dumps([_plain(v) for v in key], separators=(",", ":"))
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()


def row_values(shape: Shape, key: tuple[Any, ...]) -> dict[str, Any]:
    """The slot columns of a row with ``key``."""
    out: dict[str, Any] = {"key": digest(key), "currency": key[-2], "owner_id": key[-1]}
    for d, value in zip(shape.dims, key, strict=False):
        out[d.slot] = value
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    return value


def _impl(column_type: Any) -> Any:
    if isinstance(column_type, satypes.TypeDecorator):
        return column_type.impl_instance
    return column_type


def _python_type(column_type: Any) -> type | None:
    try:
        found: type = _impl(column_type).python_type
    except NotImplementedError:
        return None
    return found
