"""Nested lists in record forms (quote lines, a contact's extra e-mails, a product's prices).

A list of nested objects (``fields.List(fields.Nested(S))``) or a mapping
(``fields.Dict(keys=..., values=...)``) is edited as a sub-table: row ``i``'s input for field
``f`` is named ``<list>-<i>-<f>`` (a mapping's rows have the fields ``key`` and ``value``).
Rows are read in the order of their numbers, blank rows dropped; without JavaScript the
buttons of the table are submits named ``_rows`` (``lines:add``, ``lines:up:2``,
``lines:down:2``, ``lines:remove:2``) that redraw the form without saving.

The nested schema drives the table: its dump-only fields are the computed columns (a line's
net, tax and total); a field whose ``metadata["fill_from"]`` names another one (a line's
description, unit price and tax rate from its ``product_id``) is refilled by the server when
that one changes; ``metadata["form_default"]`` fills an input of a row that gets filled.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from marshmallow import fields

if TYPE_CHECKING:
    from .forms import FormField

#: Rows one form may send for one list (the schemas refuse more than they allow).
MAX_ROWS = 500
#: Empty rows a form shows below the filled ones, for browsers without JavaScript.
BLANK_ROWS = 3
#: The key and value of a row of a mapping.
MAPPING_KEYS = ("key", "value")
ROW_OP = "_rows"


def _indices(name: str, form: Mapping[str, Any]) -> list[int]:
    """The row numbers of list ``name`` in ``form``, in order."""
    pattern = re.compile(rf"^{re.escape(name)}-(\d{{1,4}})-")
    found = {int(m.group(1)) for key in form if (m := pattern.match(key))}
    return sorted(found)[:MAX_ROWS]


def submitted_rows(spec: FormField, form: Mapping[str, Any]) -> list[dict[str, str]]:
    """Every row of ``spec`` in ``form`` as typed, blank ones included, in order."""
    rows = []
    for index in _indices(spec.input_name, form):
        row = {}
        for sub in spec.subfields:
            raw = form.get(f"{spec.input_name}-{index}-{sub.name}")
            if sub.kind == "checkbox":
                row[sub.name] = "on" if raw is not None else ""
            else:
                row[sub.name] = str(raw or "").strip()
        rows.append(row)
    return rows


def is_blank(spec: FormField, row: Mapping[str, str]) -> bool:
    """A row with nothing typed but its label (or a checkbox) is dropped."""
    return not any(v for k, v in row.items() if k != "label" and _sub(spec, k).kind != "checkbox")


def _sub(spec: FormField, name: str) -> FormField:
    return next(s for s in spec.subfields if s.name == name)


def filled_rows(spec: FormField, form: Mapping[str, Any]) -> list[dict[str, str]]:
    """The rows of ``spec`` that are not blank, in order."""
    return [row for row in submitted_rows(spec, form) if not is_blank(spec, row)]


def read_rows(spec: FormField, form: Mapping[str, Any]) -> Any:
    """The submitted list as service input: blank values left out, blank rows dropped;
    a mapping becomes ``{key: value}``."""
    out = []
    for row in filled_rows(spec, form):
        item: dict[str, Any] = {}
        for sub in spec.subfields:
            value = row.get(sub.name, "")
            if sub.kind == "checkbox":
                item[sub.name] = bool(value)
            elif value != "":
                item[sub.name] = value
        out.append(item)
    if spec.mapping:
        return {str(i.get("key", "")): i.get("value") for i in out}
    return out


def stored_rows(spec: FormField, stored: Any) -> list[dict[str, str]]:
    """A record's list (or mapping) as rows of input values."""
    if spec.mapping:
        items: list[Any] = (
            [{"key": k, "value": v} for k, v in (stored or {}).items()]
            if isinstance(stored, Mapping)
            else []
        )
    else:
        items = [i for i in stored or () if isinstance(i, Mapping)]
    return [{sub.name: _text(sub, item.get(sub.name)) for sub in spec.subfields} for item in items]


def _text(sub: FormField, raw: Any) -> str:
    if raw is None:
        return ""
    if sub.kind == "checkbox":
        return "on" if raw else ""
    return str(raw)


def apply_op(spec: FormField, rows: list[dict[str, str]], op: str) -> list[dict[str, str]]:
    """Rows after one button of the table pressed without JavaScript (``lines:up:2``)."""
    parts = op.split(":")
    if not parts or parts[0] != spec.input_name:
        return rows
    rows = list(rows)
    if parts[1:2] == ["add"]:
        rows.append(blank_row(spec))
        return rows
    if len(parts) != 3 or not (parts[2].isascii() and parts[2].isdigit()):
        return rows
    index = int(parts[2])
    if not 0 <= index < len(rows):
        return rows
    if parts[1] == "remove":
        del rows[index]
    elif parts[1] == "up" and index > 0:
        rows[index - 1], rows[index] = rows[index], rows[index - 1]
    elif parts[1] == "down" and index < len(rows) - 1:
        rows[index + 1], rows[index] = rows[index], rows[index + 1]
    return rows


def blank_row(spec: FormField) -> dict[str, str]:
    return {sub.name: "" for sub in spec.subfields}


def padded(
    spec: FormField, rows: list[dict[str, str]], blanks: int = BLANK_ROWS
) -> list[dict[str, str]]:
    """``rows`` and empty rows after them: at least ``blanks`` while the list is short."""
    rows = list(rows)
    missing = blanks - sum(1 for r in rows[-blanks:] if is_blank(spec, r))
    return rows + [blank_row(spec) for _ in range(max(missing, 0 if rows else 1))]


def computed_columns(spec: FormField, schema_field: fields.Field) -> list[str]:
    """Dump-only fields of the nested schema: what the server computes for each row."""
    inner = getattr(schema_field, "inner", None)
    if not isinstance(inner, fields.Nested):
        return []
    inputs = {s.name for s in spec.subfields}
    return [name for name, f in inner.schema.fields.items() if f.dump_only and name not in inputs]


@dataclass
class RowErrors:
    """Errors of a nested list: per row (by position among the filled rows) and per field,
    and the messages about the list as a whole."""

    rows: dict[int, dict[str, list[str]]] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)


def row_errors(messages: Any) -> RowErrors:
    """Marshmallow's (or a ``prepare``'s) errors of a list: ``{0: {"quantity": [...]}}``."""
    out = RowErrors()
    if isinstance(messages, Mapping):
        for key, value in messages.items():
            if str(key).isascii() and str(key).isdigit():
                out.rows[int(key)] = {
                    str(k): message_strings(v)
                    for k, v in (value.items() if isinstance(value, Mapping) else [("_row", value)])
                }
            else:
                out.general.extend(message_strings(value))
    else:
        out.general.extend(message_strings(messages))
    return out


def message_strings(value: Any) -> list[str]:
    """Every message in a marshmallow error value (a string, or lists and mappings of them)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [m for inner in value.values() for m in message_strings(inner)]
    if isinstance(value, list | tuple):
        return [m for inner in value for m in message_strings(inner)]
    return [str(value)]
