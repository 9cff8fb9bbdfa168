"""Parquet files of the analytics export: one typed column per field of the entity's API.

The schema of an entity follows from the marshmallow fields of its API dump schema and, for
decimals, the precision and scale of the table's column (see the "Parquet" section of the
insights guide):

=================================  =========================================================
field                              Parquet (Arrow) type
=================================  =========================================================
Integer                            ``int64``
Decimal over ``Numeric(p, s)``     ``decimal128(p, s)`` (a decimal without a column: string)
Float, other numbers               ``double``
Boolean                            ``bool``
Date                               ``date32``
DateTime                           ``timestamp[us, tz=UTC]``
List of a type above               ``list<type>``
String, Email, Url, choices        ``string``
anything else (dicts, ``custom``)  ``string`` holding the value as JSON text
=================================  =========================================================

Values are taken from the API's dump of the record (the same values as the JSON Lines files),
converted to those types. pyarrow is the optional extra ``crm-insights[parquet]``: it is
imported only here, and :func:`require` names the extra when it is missing.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crmcore import CRMError
from marshmallow import fields
from sqlalchemy import Numeric
from sqlalchemy import inspect as sa_inspect

if TYPE_CHECKING:
    from crmcore import Entity

#: rows handed to pyarrow per row group
ROW_GROUP = 10_000
MISSING = (
    "The Parquet format needs pyarrow: install the extra with "
    "pip install 'crm-insights[parquet]' (or choose --format jsonl)."
)


class ParquetMissing(CRMError):
    """pyarrow is not installed."""


def require() -> Any:
    """The ``pyarrow`` module; :class:`ParquetMissing` naming the extra when absent."""
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise ParquetMissing(MISSING) from None
    return pyarrow


Convert = Callable[[Any], Any]


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def _decimal(value: Any) -> Decimal:
    return Decimal(str(value))


def _timestamp(value: Any) -> dt.datetime:
    moment = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    if moment.tzinfo is None:  # stored naive is UTC throughout the CRM
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


def _date(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])


def column_type(pa: Any, field: fields.Field, column: Any = None) -> tuple[Any, Convert]:
    """The Arrow type of a marshmallow ``field`` (``column``: the table column behind it, for
    a decimal's precision and scale) and the conversion of a dumped value to it."""
    if isinstance(field, fields.Boolean):
        return pa.bool_(), bool
    if isinstance(field, fields.Integer):
        return pa.int64(), int
    if isinstance(field, fields.Decimal):
        kind = getattr(column, "type", None)
        if isinstance(kind, Numeric) and kind.precision and kind.scale is not None:
            return pa.decimal128(kind.precision, kind.scale), _decimal
        return pa.string(), str
    if isinstance(field, fields.Number):
        return pa.float64(), float
    if isinstance(field, fields.DateTime):  # before Date: NaiveDateTime and kin
        return pa.timestamp("us", tz="UTC"), _timestamp
    if isinstance(field, fields.Date):
        return pa.date32(), _date
    if isinstance(field, fields.List) and not isinstance(
        field.inner, fields.List | fields.Dict | fields.Nested
    ):
        inner, convert = column_type(pa, field.inner)
        return pa.list_(inner), lambda items: [None if v is None else convert(v) for v in items]
    if isinstance(field, fields.String | fields.UUID | fields.Enum):
        return pa.string(), str
    return pa.string(), _json


def entity_schema(pa: Any, entity: Entity) -> tuple[Any, list[tuple[str, Convert]]]:
    """The Arrow schema of ``entity``'s files and, per column, its key and conversion."""
    schema = entity.dump_schema
    columns = sa_inspect(entity.model).columns
    out: list[Any] = []
    converts: list[tuple[str, Convert]] = []
    for name, field in schema.fields.items():
        if field.load_only:
            continue
        key = field.data_key or name
        column = columns.get(field.attribute or name)
        kind, convert = column_type(pa, field, column)
        out.append(pa.field(key, kind, nullable=key != "id"))
        converts.append((key, convert))
    return pa.schema(out), converts


def deletes_schema(pa: Any) -> Any:
    """The schema of the ``deletes`` file."""
    return pa.schema(
        [
            pa.field("op", pa.string(), nullable=False),
            pa.field("entity", pa.string(), nullable=False),
            pa.field("id", pa.int64()),
            pa.field("count", pa.int64()),
            pa.field("at", pa.timestamp("us", tz="UTC"), nullable=False),
            pa.field("audit_id", pa.int64(), nullable=False),
        ]
    )


DELETE_CONVERTS: list[tuple[str, Convert]] = [
    ("op", str), ("entity", str), ("id", int), ("count", int), ("at", _timestamp),
    ("audit_id", int),
]  # fmt: skip


class ParquetSink:
    """Rows written to ``path`` with ``schema`` in row groups, moved in place when complete."""

    def __init__(
        self, pa: Any, path: Path, schema: Any, converts: list[tuple[str, Convert]], name: str
    ) -> None:
        self.pa, self.path, self.schema, self.converts, self.name = pa, path, schema, converts, name
        self.tmp = path.with_name(path.name + ".part")
        self.rows: list[dict[str, Any]] = []

    def __enter__(self) -> ParquetSink:
        import pyarrow.parquet as pq

        self.writer = pq.ParquetWriter(self.tmp, self.schema, compression="zstd")
        return self

    def write(self, row: dict[str, Any]) -> None:
        """Add one dumped row (converted to the column types)."""
        out: dict[str, Any] = {}
        for key, convert in self.converts:
            value = row.get(key)
            try:
                out[key] = None if value is None else convert(value)
            except (ValueError, TypeError, InvalidOperation):
                raise CRMError(
                    "%(entity)s %(id)s: the value of %(field)s does not fit its Parquet type.",
                    params={"entity": self.name, "id": row.get("id"), "field": key},
                ) from None
        self.rows.append(out)
        if len(self.rows) >= ROW_GROUP:
            self._flush()

    def _flush(self) -> None:
        if self.rows:
            self.writer.write_table(self.pa.Table.from_pylist(self.rows, schema=self.schema))
            self.rows = []

    def __exit__(self, kind: Any, *_: Any) -> None:
        try:
            if kind is None:
                self._flush()
        finally:
            self.writer.close()
        if kind is None:
            self.tmp.replace(self.path)
        else:
            self.tmp.unlink(missing_ok=True)


def describe(entities: Iterable[Entity]) -> dict[str, list[tuple[str, str]]]:
    """Column names and Arrow types of each entity's file, by plural (``crm insights schema``)."""
    pa = require()
    return {e.plural: [(f.name, str(f.type)) for f in entity_schema(pa, e)[0]] for e in entities}
