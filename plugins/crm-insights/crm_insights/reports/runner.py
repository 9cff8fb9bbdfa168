"""Run a definition: the rows as JSON-ready values, names of referenced records, and for
each row the list filter (query string) that drills down to the records it counts."""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from crmcore.references import titles

from . import buckets, result_cache
from .definition import Definition
from .lines import LINE
from .query import Builder, Column

#: Decimal places of averages in results.
AVG_PLACES = decimal.Decimal("0.01")


def run_definition(
    service: Any,
    definition: Definition,
    extra_filters: dict[Any, Any] | None = None,
    cached: bool = False,
    rollups: bool = True,
) -> dict[str, Any]:
    """Execute ``definition`` for ``service``'s reader: from a rollup that answers it (always
    current, see :mod:`crm_insights.rollups`) unless ``rollups`` is false, else with the plain
    query; with ``cached``, the plain query's aggregate comes from the stored results while
    the tables it reads are unchanged (:mod:`.result_cache`).

    Returns ``{"entity", "columns": [{"key", "role", "kind", "field", "bucket", "op"}],
    "rows": [{<key>: value, "<key>_name": title, "_filter": "a=1&b=2" | None}], "truncated"}``.
    """
    from ..rollups import rollup_builder

    found = rollup_builder(service, definition, extra_filters) if rollups else None
    builder = found or Builder(service, definition)
    columns = builder.columns()
    if cached and found is None:
        values = result_cache.cached_rows(service, builder, extra_filters, _aggregate)
    else:
        values = _aggregate(service, builder, extra_filters)
    rows = [dict(zip([c.key for c in columns], row, strict=True)) for row in values]
    _add_names(service, definition, columns, rows)
    zone = ZoneInfo(builder.zone)
    for row in rows:
        row["_filter"] = drill_filter(definition, columns, row, zone)
    return {
        "entity": definition.source,
        "columns": [_describe(c) for c in columns],
        "rows": rows,
        "truncated": len(rows) >= definition.limit,
    }


def _aggregate(
    service: Any, builder: Builder, extra_filters: dict[Any, Any] | None
) -> list[list[Any]]:
    """The aggregate's rows as JSON-ready values, in the order of ``builder.columns()``."""
    bounds: dict[str, tuple[Any, Any]] = {}
    found = builder.bounds_statement(extra_filters)
    if found is not None:
        stmt, keys = found
        values = list(service.session.execute(stmt).one())
        for i, key in enumerate(keys):
            bounds[key] = (values[2 * i], values[2 * i + 1])
    stmt, columns = builder.statement(extra_filters, bounds)
    return [
        [_value(c, row[i]) for i, c in enumerate(columns)] for row in service.session.execute(stmt)
    ]


def _describe(col: Column) -> dict[str, Any]:
    if col.role == "measure":
        assert col.measure is not None
        ref = col.measure.field
        kind = "number"
        if ref is not None and col.measure.op in ("min", "max"):
            kind = ref.info.kind
        return {
            "key": col.key,
            "role": "measure",
            "op": col.measure.op,
            "field": ref.key if ref else None,
            "kind": kind,
        }
    if col.role == "currency":
        return {"key": col.key, "role": "currency", "field": col.key, "kind": "text"}
    assert col.group is not None
    kind = "date" if col.group.bucket else col.group.field.info.kind
    return {
        "key": col.key,
        "role": "group",
        "field": col.group.field.key,
        "bucket": col.group.bucket,
        "kind": kind,
    }


def _value(col: Column, value: Any) -> Any:
    if value is None:
        return None
    if col.role == "group" and col.group is not None and col.group.bucket:
        day = value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])
        return day.isoformat()
    if isinstance(value, decimal.Decimal):
        if col.measure is not None and col.measure.op == "avg":
            info = col.measure.field.info if col.measure.field else None
            if info is not None and not info.decimal:
                return float(value.quantize(AVG_PLACES))
            return str(value.quantize(AVG_PLACES))
        ref = col.measure.field if col.measure is not None else None
        if ref is not None and ref.join == LINE and not ref.info.money:
            return format(value.normalize(), "f")  # a quantity as written, not 6 decimals
        return str(value)
    if isinstance(value, float) and col.measure is not None and col.measure.op == "avg":
        return round(value, 2)
    if isinstance(value, float) and value.is_integer() and _is_custom(col):
        return int(value)  # custom numbers come back as floats on one database, ints on another
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def _is_custom(col: Column) -> bool:
    ref = col.group.field if col.group is not None else col.measure.field if col.measure else None
    return ref is not None and ref.info.custom is not None


def _add_names(service: Any, d: Definition, columns: list[Column], rows: list[dict]) -> None:
    """``<key>_name`` beside each reference grouped by: the record's title when the reader may
    read it, else nothing (the id alone)."""
    for col in columns:
        if col.role != "group" or col.group is None:
            continue
        info = col.group.field.info
        if info.kind != "reference" or info.target is None:
            continue
        target = service.entity(info.target)
        ids = [r[col.key] for r in rows if isinstance(r[col.key], int)]
        names = titles(service, target, ids)
        for row in rows:
            row[f"{col.key}_name"] = names.get(row[col.key]) if row[col.key] is not None else None


def drill_filter(
    d: Definition, columns: list[Column], row: dict[str, Any], zone: ZoneInfo
) -> str | None:
    """The list-language query string of the records behind ``row``, or ``None`` when the list
    cannot express it (a joined field, a field lists do not filter by, lines)."""
    if d.lines is not None:
        return None
    if any(k.partition(".")[0] in d.joins for k in d.filters):
        return None
    pairs: list[tuple[str, str]] = [(k, v) for k, values in d.filters.items() for v in values]
    filterable = d.entity.filterable
    for col in columns:
        if col.role == "measure":
            continue
        if col.role == "currency":
            if col.currency_of or "currency" not in filterable:
                return None
            name, bucket = "currency", None
        else:
            assert col.group is not None
            ref = col.group.field
            if ref.join is not None or (ref.info.custom is None and ref.name not in filterable):
                return None
            name, bucket = col.group.field.name, col.group.bucket
        value = row[col.key]
        if value is None:
            pairs.append((f"{name}__isnull", "true"))
        elif bucket is not None:
            assert col.group is not None
            start = dt.date.fromisoformat(value)
            end = buckets.bucket_range(start, bucket)
            if col.group.field.info.kind == "datetime":
                low = dt.datetime.combine(start, dt.time(), zone).astimezone(dt.UTC).isoformat()
                high = dt.datetime.combine(end, dt.time(), zone).astimezone(dt.UTC).isoformat()
            else:
                low, high = start.isoformat(), end.isoformat()
            pairs += [(f"{name}__gte", low), (f"{name}__lt", high)]
        elif isinstance(value, bool):
            pairs.append((name, "true" if value else "false"))
        else:
            pairs.append((name, str(value)))
    return urlencode(pairs)
