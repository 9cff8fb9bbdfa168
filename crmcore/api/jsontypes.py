"""JSON bodies hold the types the OpenAPI document declares.

marshmallow is lenient on purpose (CSV imports load ``"5"`` into an integer field), but the API
documents JSON types: an integer field takes a JSON integer - not ``"5"``, ``5.5`` or ``true`` -
a number field a JSON number and a boolean field ``true`` or ``false``. Decimals are documented
as strings and take a string or a number.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields

from ..errors import ValidationError


def _problem(field: fields.Field, value: Any) -> Any:
    """What is wrong with ``value`` for ``field`` (a message, or nested messages), or None."""
    if value is None:
        return None  # null is the field's own business (allow_none)
    if isinstance(field, fields.Decimal):
        ok = isinstance(value, str | int | float) and not isinstance(value, bool)
        return None if ok else 'Not a valid decimal number (send a string such as "12.50").'
    if isinstance(field, fields.Integer):
        ok = isinstance(value, int) and not isinstance(value, bool)
        return None if ok else "Not a valid integer."
    if isinstance(field, fields.Number):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return None if ok else "Not a valid number."
    if isinstance(field, fields.Boolean):
        return None if isinstance(value, bool) else "Not a valid boolean."
    if isinstance(field, fields.Nested) and isinstance(field.schema, Schema):
        items = value if field.many and isinstance(value, list) else [value]
        out = {}
        for index, item in enumerate(items):
            if isinstance(item, dict):
                found = problems(field.schema, item)
                if found:
                    out[index] = found
        if not out:
            return None
        return out if field.many else out[0]
    if isinstance(field, fields.List) and isinstance(value, list):
        out = {i: p for i, item in enumerate(value) if (p := _problem(field.inner, item))}
        return out or None
    if isinstance(field, fields.Dict) and isinstance(value, dict) and field.value_field:
        out = {k: p for k, item in value.items() if (p := _problem(field.value_field, item))}
        return out or None
    return None


def problems(schema: Schema, data: dict[str, Any]) -> dict[str, Any]:
    """Per-field messages for the values of ``data`` whose JSON type ``schema`` does not take."""
    by_key = {f.data_key or name: f for name, f in schema.fields.items() if not f.dump_only}
    out: dict[str, Any] = {}
    for key, value in data.items():
        field = by_key.get(key)
        if field is not None and (found := _problem(field, value)):
            out[key] = found if isinstance(found, dict) else [found]
    return out


def check(schema: Schema, data: dict[str, Any]) -> dict[str, Any]:
    """``data`` when its JSON types are those of ``schema``; else 422 with per-field messages."""
    found = problems(schema, data)
    if found:
        raise ValidationError(found)
    return data
