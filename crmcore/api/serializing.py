"""Records to JSON-ready dicts, with a dumper compiled once per schema.

``schema.dump`` walks marshmallow's machinery for every field of every record (accessor,
error store, hooks); a page of 25 contacts of 30 fields is 750 such walks. :func:`dumper`
plans the walk once per schema: for each field its output key, the attribute to read and the
cheapest conversion that gives marshmallow's own result (``str`` for a string, ``isoformat``
for an ISO datetime, ``int`` for an integer), else the field's own ``_serialize``. Schemas with
dump hooks, and fields that do not read an attribute, keep marshmallow's full path.

A list whose dump reads only mapped columns selects those columns (:func:`row_columns`) instead
of whole records, and its JSON is written by orjson (:func:`json_response`): the same values,
without the ORM's identity map and per-record state or the standard library's encoder.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import orjson
from flask import Flask, Response
from marshmallow import Schema, fields, missing
from sqlalchemy import inspect

if TYPE_CHECKING:
    from ..registry import Entity

Dump = Callable[[Any], dict[str, Any]]
_DUMP_HOOKS = ("pre_dump", "post_dump")


def dumper(schema: Schema) -> Dump:
    """A function giving ``schema.dump(record)`` for one record, compiled once per schema."""
    cached: Dump | None = schema.__dict__.get("_crm_dumper")
    if cached is None:
        cached = _compile(schema)
        schema.__dict__["_crm_dumper"] = cached
    return cached


def _compile(schema: Schema) -> Dump:
    hooks = getattr(schema, "_hooks", {})
    tags = {key[0] if isinstance(key, tuple) else key for key, names in hooks.items() if names}
    if schema.many or tags & set(_DUMP_HOOKS):
        return schema.dump  # type: ignore[return-value]
    plan: list[tuple[str, str, Callable[[Any, Any], Any] | None, fields.Field]] = []
    for name, field in schema.dump_fields.items():
        attribute = field.attribute or name
        usable = field._CHECK_ATTRIBUTE and "." not in attribute
        plan.append((field.data_key or name, attribute if usable else "", _fast(field), field))

    def dump(record: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, attribute, convert, field in plan:
            if not attribute:
                value = field.serialize(key, record)
            else:
                value = getattr(record, attribute, missing)
                if value is missing:
                    value = field.serialize(attribute, record)  # dump_default and friends
                elif convert is not None:  # each of them answers None for None
                    value = None if value is None else convert(value, record)
                else:
                    value = field._serialize(value, attribute, record)
            if value is not missing:
                out[key] = value
        return out

    return dump


def _fast(field: fields.Field) -> Callable[[Any, Any], Any] | None:
    """A conversion with the same result as ``field._serialize`` for a non-None value."""
    kind = type(field)
    serialize = kind._serialize
    if serialize is fields.String._serialize:  # String and subclasses that only validate
        return lambda v, r: v if type(v) is str else field._serialize(v, None, r)
    if serialize is fields.Number._serialize and issubclass(kind, fields.Integer):
        if not field.as_string:  # type: ignore[attr-defined]
            return lambda v, _r: v if type(v) is int else field._format_num(v)  # type: ignore[attr-defined]
    if serialize is fields.Boolean._serialize:
        return lambda v, r: v if type(v) is bool else field._serialize(v, None, r)
    if serialize is fields.DateTime._serialize and isinstance(field, fields.DateTime):
        if (field.format or field.DEFAULT_FORMAT) in ("iso", "iso8601"):  # type: ignore[attr-defined]
            return lambda v, r: (
                v.isoformat() if isinstance(v, dt.date) else field._serialize(v, None, r)
            )
    if serialize is fields.Raw._serialize:
        return lambda v, _r: v
    if serialize is fields.Mapping._serialize and isinstance(field, fields.Mapping):
        if field.key_field is None and field.value_field is None:
            mapping_type = field.mapping_type
            return lambda v, _r: mapping_type(v)
    if serialize is fields.List._serialize and isinstance(field, fields.List):
        inner = _fast(field.inner)
        if inner is not None:
            return lambda v, r: [None if each is None else inner(each, r) for each in v]
        # lists of nested objects: most are empty (a contact's other e-mails, phones...)
        return lambda v, r: [] if type(v) is list and not v else field._serialize(v, None, r)
    return None


def row_columns(entity: Entity, schema: Schema) -> dict[str, Any] | None:
    """The mapped columns (by attribute name, labelled with it) to select so that
    ``dumper(schema)`` can dump plain rows, or ``None`` when it needs whole records: eager
    relations, dump hooks, or a field that reads anything but a column (a property, a
    relation, a method)."""
    key = ("_crm_row_columns", entity.model)
    if key in schema.__dict__:
        return schema.__dict__[key]  # type: ignore[no-any-return]
    mapper = inspect(entity.model)
    columns = {prop.key for prop in mapper.column_attrs}
    hooks = getattr(schema, "_hooks", {})
    tags = {k[0] if isinstance(k, tuple) else k for k, names in hooks.items() if names}
    plain = not entity.eager and not schema.many and not tags & set(_DUMP_HOOKS)
    for name, field in schema.dump_fields.items():
        attribute = field.attribute or name
        if not field._CHECK_ATTRIBUTE or attribute not in columns:
            plain = False
    # labelled by attribute: a row read on the connection is keyed by column name otherwise
    found = (
        {name: getattr(entity.model, name).label(name) for name in sorted(columns)}
        if plain
        else None
    )
    schema.__dict__[key] = found
    return found


def row_dumper(schema: Schema, names: list[str]) -> Callable[[Sequence[Any]], dict[str, Any]]:
    """Like :func:`dumper`, for rows of the columns :func:`row_columns` gave (``names`` in
    their order): each value read by its position instead of an attribute."""
    key = ("_crm_row_dumper", tuple(names))
    cached: Callable[[Sequence[Any]], dict[str, Any]] | None = schema.__dict__.get(key)
    if cached is not None:
        return cached
    position = {name: index for index, name in enumerate(names)}
    plan = [
        (field.data_key or name, position[attribute], _fast(field), field, attribute)
        for name, field in schema.dump_fields.items()
        for attribute in [field.attribute or name]
    ]

    def dump(row: Sequence[Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, index, convert, field, attribute in plan:
            value = row[index]
            if convert is not None:
                out[key] = None if value is None else convert(value, row)
            else:
                value = field._serialize(value, attribute, row)
                if value is not missing:
                    out[key] = value
        return out

    schema.__dict__[key] = dump
    return dump


def json_response(app: Flask, payload: Any) -> Response:
    """``app.json.response(payload)`` encoded by orjson: the same JSON value (Flask's own
    conversions for dates, decimals and the like), UTF-8 instead of ASCII escapes."""
    try:
        body = orjson.dumps(
            payload,
            default=app.json.default,  # type: ignore[attr-defined]
            option=orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS,
        )
    except TypeError:  # what orjson cannot write (keys that are not strings, huge integers)
        return app.json.response(payload)
    return app.response_class(body, mimetype=app.json.mimetype)  # type: ignore[attr-defined]
