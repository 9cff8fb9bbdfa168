"""Turning the text cells of a row into the input the record service validates."""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from marshmallow import fields as mm
from sqlalchemy import String

from .mapping import COMPANY, CUSTOM, FieldSet

#: Characters a spreadsheet reads as the start of a formula (see ``crmcore.exporting``).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_TRUE_ES = {"si", "sí", "verdadero"}
_FALSE_ES = {"falso"}


@dataclass
class Row:
    """One data row of a file, converted."""

    line: int
    cells: list[str]
    data: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)
    company: str | None = None
    #: the SHA-256 (hex) of the row's values: what tells the row apart from the file's others
    digest: str = ""
    #: what ``core_import_row`` keeps of the row (:class:`crmcore.importing.models.ImportedRow`)
    fingerprint: int = 0
    #: the value of the field the import matches records on, trimmed and lower-cased
    key: str | None = None

    def reason(self) -> str:
        return "; ".join(
            f"{k}: {' '.join(v)}" if k != "_schema" else " ".join(v) for k, v in self.errors.items()
        )


class RowConverter:
    """Converts cells according to the column map and the types of the schema fields."""

    def __init__(self, fields: FieldSet, targets: Sequence[str | None]) -> None:
        self.fields = fields
        self.targets = list(targets)
        self.width = len(self.targets)
        columns = fields.entity.model.__table__.c
        # a safety net for plain text fields whose schema sets no length (PostgreSQL would
        # refuse the whole batch); typed fields (e-mail, country...) give their own message
        self.max_length: dict[str, int] = {
            name: col.type.length
            for name, col in columns.items()
            if isinstance(col.type, String)
            and col.type.length
            and type(fields.schema_fields.get(name)) is mm.String
        }
        #: how each mapped schema field's text is read, decided once from its type
        self.kinds: dict[str, str] = {
            target: _kind(fields.schema_fields[target])
            for target in self.targets
            if target is not None and target in fields.schema_fields
        }
        # the fingerprint's text (see ``_quote``) around the row's values, and each
        # target's place in it (sorted) with its key quoted, worked out once per file
        order = sorted({t for t in self.targets if t})
        self._head = f"[{_quote(fields.entity.name)}, {{"
        self._places = len(order)
        #: what each column's value goes to, decided once: ``(target, how, name, limit,
        #: place, key)``; ``how`` is ``company``, ``custom`` (``name``: the custom field's),
        #: ``text`` (a plain value, stored as it is up to ``limit`` characters) or ``set``
        #: (``_set`` reads it); ``place`` and ``key`` are the value's in the fingerprint's text
        self.steps: list[tuple[str, str, str | None, int, int, str]] = []
        for target in self.targets:
            if target is None:
                self.steps.append(("", "", None, 0, 0, ""))
                continue
            limit = self.max_length.get(target, sys.maxsize)
            if target == COMPANY:
                how, name = "company", None
            elif target.startswith(CUSTOM):
                how, name = "custom", target[len(CUSTOM) :]
            else:
                how, name = ("text" if self.kinds.get(target) == "text" else "set"), None
            self.steps.append(
                (target, how, name, limit, order.index(target), f"{_quote(target)}: ")
            )

    def convert(self, line: int, cells: list[str]) -> Row:
        row = Row(line, cells)
        if len(cells) > self.width and any(c.strip() for c in cells[self.width :]):
            row.errors["_schema"] = [
                f"The line has {len(cells)} values but the header only {self.width} columns."
            ]
        # the fingerprint's items in their places (the keys sorted, as ``json.dumps`` does)
        items: list[str] = [""] * self._places
        data = row.data
        for (target, how, name, limit, place, key), raw in zip(self.steps, cells, strict=False):
            if not how:
                continue
            # trimmed, and the export's formula neutralisation undone ('=1+2 -> =1+2)
            value = raw.strip()
            if not value:
                continue
            if value[0] == "'" and len(value) > 1 and value[1] in FORMULA_START:
                value = value[1:]
            items[place] = key + _quote(value)
            if how == "text" and len(value) <= limit:
                data[target] = value  # what ``_set`` does with such a value, without the call
            elif how == "company":
                row.company = value
            elif how == "custom":
                data.setdefault("custom_fields", {})[name] = value
            else:
                self._set(row, target, value)
        text = ", ".join(filter(None, items))
        if not text and not row.errors:
            row.errors["_schema"] = ["The row has no value in any imported column."]
        row.digest = hashlib.sha256(f"{self._head}{text}}}]".encode()).hexdigest()
        return row

    def _set(self, row: Row, name: str, value: str) -> None:
        limit = self.max_length.get(name)
        if limit is not None and len(value) > limit:
            row.errors[name] = [f"Longer than maximum length {limit}."]
            return
        kind = self.kinds.get(name)
        if kind is None:
            kind = self.kinds[name] = _kind(self.fields.schema_fields[name])
        if kind == "json":
            self._json(row, name, value)
        elif kind == "list":
            separator = ";" if ";" in value else ","
            row.data[name] = [part.strip() for part in value.split(separator) if part.strip()]
        elif kind == "boolean":
            lowered = value.casefold()
            row.data[name] = (
                True if lowered in _TRUE_ES else False if lowered in _FALSE_ES else value
            )
        else:
            row.data[name] = value

    @staticmethod
    def _json(row: Row, name: str, value: str) -> None:
        try:
            row.data[name] = json.loads(value)
        except json.JSONDecodeError:
            row.errors[name] = ["Not valid JSON."]


#: how ``json.dumps(..., ensure_ascii=False)`` quotes a string: a row's fingerprint hashes
#: ``json.dumps([entity, cells], sort_keys=True, ensure_ascii=False)`` (``cells``: the row's
#: trimmed values by target), written directly with it by ``RowConverter`` (the encoder's set-up
#: and its walk of the structure cost more than the text), so that a file imported by an
#: earlier version is recognised row for row
_quote = json.encoder.encode_basestring


def _kind(schema_field: mm.Field) -> str:
    """How a cell is read for ``schema_field``: ``json`` (nested objects), ``list`` (separated
    values), ``boolean`` (Spanish words too) or ``text`` (as it is, for the schema)."""
    if isinstance(schema_field, mm.List):
        return "json" if isinstance(schema_field.inner, mm.Nested | mm.Dict) else "list"
    if isinstance(schema_field, mm.Dict | mm.Nested):
        return "json"
    if isinstance(schema_field, mm.Boolean):
        return "boolean"
    return "text"
