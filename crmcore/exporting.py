"""Streaming export of any entity to CSV or JSON, within the caller's read scope.

Rows are read in keyset batches on ``id`` from ``RecordService.query`` (so the permission scope
is part of the SQL and nothing the user may not read is ever loaded) and written out batch by
batch: memory stays constant whatever the size. In CSV, cells a spreadsheet would run as a
formula (starting with ``= + - @``, tab or CR) get a leading ``'``; custom fields are columns
``custom.<name>`` and tags are joined with ``;``.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import io
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select

from .errors import PermissionDenied
from .records import RecordService
from .references import Reference, references, titles, type_of
from .registry import Entity

FORMATS = ("csv", "json")
BATCH = 1000
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: Narrows the export to some records: gets and returns the scoped SELECT (``.where(...)``).
Narrow = Callable[[Select[Any]], Select[Any]]
#: The order of an export: ``(field, apply)`` - the field records are sorted by and
#: ``apply(stmt, after)``, which orders ``stmt`` (ties broken by id) and, with ``after`` a
#: ``(value, id)`` pair, keeps the rows after it (the list's keyset: ``listing.apply_sort``).
Order = tuple[str, Callable[[Select[Any], "tuple[Any, int] | None"], Select[Any]]]
_SKIPPED = frozenset({"custom_fields", "version", "deleted_at"})


@dataclass(frozen=True)
class Columns:
    """The record columns and custom fields of an export, in output order.

    Each reference field in ``refs`` is followed by ``<field>_name``: the referenced record's
    title when the reader may read it, else empty.
    """

    fields: tuple[str, ...]
    custom: tuple[str, ...]
    refs: Mapping[str, Reference] = field(default_factory=dict)

    @property
    def header(self) -> list[str]:
        return [*self.cells, *(f"custom.{name}" for name in self.custom)]

    @property
    def cells(self) -> list[str]:
        """The keys of one row's record values, ``<field>_name`` after each reference."""
        out: list[str] = []
        for name in self.fields:
            out.append(name)
            if name in self.refs:
                out.append(f"{name}_name")
        return out


def check_allowed(service: RecordService, entity: Entity) -> None:
    """Exporting needs the ``data.export`` permission and read access to the entity."""
    if not service.access.has("data.export"):
        raise PermissionDenied("You may not export data (the data.export permission).")
    if not service.access.can(entity, "read"):
        raise PermissionDenied(f"You may not read {entity.title_plural.lower()}.")


def columns_of(service: RecordService, entity: Entity) -> Columns:
    """What the API shows of a record that is a column, plus the custom fields."""
    dump = entity.dump_schema
    names = [
        name
        for name, f in dump.fields.items()
        if not f.load_only and name in entity.columns and name not in _SKIPPED
    ]
    stamps = [n for n in ("created_at", "updated_at") if n in names]
    names = [n for n in names if n != "id" and n not in stamps] + stamps
    custom: tuple[str, ...] = ()
    if entity.has_custom_fields:
        custom = tuple(d.name for d in service.crm.custom_field_defs(service.session, entity))
    refs = {
        name: ref
        for name, ref in references(service, entity).items()
        if name in names and (ref.type_field is None or ref.type_field in names)
    }
    return Columns(("id", *names), custom, refs)


def iter_records(
    service: RecordService,
    entity: Entity,
    columns: Columns,
    batch: int = BATCH,
    narrow: Narrow | None = None,
    order: Order | None = None,
) -> Iterator[dict[str, Any]]:
    """Each readable record as a dict of column values, in id order (or ``order``'s),
    ``batch`` rows per query.

    ``narrow`` limits the records further (a selection, a list's filters).
    """
    model = entity.model
    attrs = [entity.attribute(name) for name in columns.fields]
    if columns.custom:
        attrs.append(entity.attribute("custom_fields"))
    sort_field, apply_order = order if order is not None else ("id", None)
    if sort_field not in columns.fields:
        attrs.append(entity.attribute(sort_field))  # read for the keyset, not exported
    sort_at = columns.fields.index(sort_field) if sort_field in columns.fields else -1
    scoped = service.query(entity, "read")
    if narrow is not None:
        scoped = narrow(scoped)
    base = scoped.with_only_columns(*attrs).order_by(None)
    last: Any = None
    while True:
        if apply_order is not None:
            stmt = apply_order(base, last)
        else:
            stmt = base if last is None else base.where(model.id > last)
            stmt = stmt.order_by(model.id)
        rows = service.session.execute(stmt.limit(batch)).all()
        batch_values = []
        for row in rows:
            values = dict(zip(columns.fields, row, strict=False))
            if columns.custom:
                values["custom_fields"] = row[len(columns.fields)] or {}
            batch_values.append(values)
        _add_names(service, columns, batch_values)
        yield from batch_values
        if len(rows) < batch:
            return
        last = rows[-1][0] if apply_order is None else (rows[-1][sort_at], rows[-1][0])


def _add_names(service: RecordService, columns: Columns, rows: list[dict[str, Any]]) -> None:
    """Set ``<field>_name`` on ``rows``: one query per reference field and target entity."""
    for name, ref in columns.refs.items():
        wanted: dict[str, set[int]] = {}
        for values in rows:
            kind = ref.target if ref.type_field is None else values.get(ref.type_field)
            if values.get(name) is not None and isinstance(kind, str):
                wanted.setdefault(kind, set()).add(values[name])
        found: dict[tuple[str, int], str] = {}
        for kind, ids in wanted.items():
            target = type_of(service, kind)
            if target is not None:
                found.update({(kind, i): t for i, t in titles(service, target, ids).items()})
        for values in rows:
            kind = ref.target if ref.type_field is None else values.get(ref.type_field)
            record_id = values.get(name)
            values[f"{name}_name"] = (
                found.get((kind, record_id))
                if isinstance(kind, str) and isinstance(record_id, int)
                else None
            )


def csv_cell(value: Any, name: str = "") -> str:
    """A value as a spreadsheet-safe CSV cell."""
    if value is None:
        text = ""
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, dt.datetime | dt.date | dt.time):
        text = value.isoformat()
    elif isinstance(value, list) and name == "tags":
        text = ";".join(str(v) for v in value)
    elif isinstance(value, list | dict):
        text = json.dumps(value, ensure_ascii=False, default=str)
    else:
        text = str(value)
    if text.startswith(FORMULA_START):
        return "'" + text
    return text


def csv_chunks(
    service: RecordService,
    entity: Entity,
    batch: int = BATCH,
    narrow: Narrow | None = None,
    order: Order | None = None,
) -> Iterator[bytes]:
    """The export as UTF-8 CSV (with a BOM, so spreadsheets read accents right), in chunks."""
    columns = columns_of(service, entity)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write("\ufeff")
    writer.writerow(columns.header)
    pending = 0
    for values in iter_records(service, entity, columns, batch, narrow, order):
        custom = values.get("custom_fields", {})
        writer.writerow(
            [
                *(csv_cell(values[n], n) for n in columns.cells),
                *(csv_cell(custom.get(n)) for n in columns.custom),
            ]
        )
        pending += 1
        if pending >= batch:
            yield _drain(buffer)
            pending = 0
    yield _drain(buffer)


def json_chunks(
    service: RecordService,
    entity: Entity,
    batch: int = BATCH,
    narrow: Narrow | None = None,
    order: Order | None = None,
) -> Iterator[bytes]:
    """The export as one JSON array of objects (custom fields under ``custom_fields``)."""
    columns = columns_of(service, entity)
    buffer = io.StringIO()
    buffer.write("[")
    pending = 0
    first = True
    for values in iter_records(service, entity, columns, batch, narrow, order):
        custom = values.get("custom_fields", {})
        values = {n: values[n] for n in columns.cells}
        if columns.custom:
            values["custom_fields"] = {n: custom.get(n) for n in columns.custom}
        buffer.write("\n" if first else ",\n")
        first = False
        buffer.write(json.dumps(values, ensure_ascii=False, default=_json_default))
        pending += 1
        if pending >= batch:
            yield _drain(buffer)
            pending = 0
    buffer.write("\n]\n")
    yield _drain(buffer)


def export_chunks(
    service: RecordService,
    entity: Entity,
    fmt: str,
    batch: int = BATCH,
    narrow: Narrow | None = None,
    order: Order | None = None,
) -> Iterator[bytes]:
    """Check permissions now, then stream ``fmt`` (``csv`` or ``json``); ``narrow`` and
    ``order`` apply a list's filters, search and sort."""
    check_allowed(service, entity)
    if fmt not in FORMATS:
        raise ValueError(fmt)
    return (csv_chunks if fmt == "csv" else json_chunks)(service, entity, batch, narrow, order)


def _drain(buffer: io.StringIO) -> bytes:
    data = buffer.getvalue().encode("utf-8")
    buffer.seek(0)
    buffer.truncate()
    return data


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    return str(value)
