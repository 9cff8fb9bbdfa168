"""Loaders compiled from a marshmallow schema for one set of input keys (an import's columns).

``schema.load`` visits every field through several layers of generic calls per value; an
import loads thousands of rows with the same few keys. :func:`compile_loader` builds, once per
schema and key set, a plain function that converts just those keys the way the fields do -
the field kinds entity schemas use most (strings, integers, booleans, lists, dictionaries,
raw values, the e-mail and phone fields) directly, any other field through its own
``deserialize`` - and then runs the schema's ``validates_schema`` methods.

A compiled loader is a shortcut for valid input only: whatever it cannot vouch for (a value
of an unexpected type, a value a field or a validator refuses) raises :class:`Unsure`, and
:func:`load_values` loads that input with marshmallow, whose result and messages are the
reference. A schema with ``pre_load``, ``post_load`` or ``validates`` hooks, or input with an
unknown key or without a required field, gets no compiled loader at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, missing, validate
from marshmallow.decorators import POST_LOAD, PRE_LOAD, VALIDATES, VALIDATES_SCHEMA
from marshmallow.utils import is_collection

from .fields import Email, Phone, default_region, e164_number, normalise_email

#: a converter of one value: ``convert(value, data)`` (``data``: the whole input) -> output
Convert = Callable[[Any, Any], Any]
#: a compiled loader: ``load(data)`` -> the values, or :class:`Unsure`
Loader = Callable[[dict[str, Any]], dict[str, Any]]
#: compiled loaders by (schema id, key set); ``None`` where marshmallow must load
LoaderCache = dict[tuple[int, frozenset[str]], Loader | None]
#: key sets remembered per cache: imports have one, API calls many (those beyond load slowly)
MAX_LOADERS = 256


class Unsure(Exception):
    """The compiled loader cannot vouch for this input: load it with marshmallow."""


class Refused(Exception):
    """A converter's refusal of a value, with the message marshmallow's field gives it (an
    e-mail address or a phone number that is not one): the loader files it under the
    field's key, as marshmallow does, and reads the other fields."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def load_values(
    cache: LoaderCache,
    schema: Schema,
    data: dict[str, Any],
    fallback: Callable[[Schema, dict[str, Any]], Schema],
) -> dict[str, Any]:
    """``schema.load(data)``: through the loader compiled for ``data``'s keys (kept in
    ``cache``) when there is one and it is sure, else through the marshmallow schema that
    ``fallback(schema, data)`` gives. Raises marshmallow's ``ValidationError``."""
    key = (id(schema), frozenset(data))
    try:
        loader = cache[key]
    except KeyError:
        loader = None
        if len(cache) < MAX_LOADERS:
            loader = cache[key] = compile_loader(schema, key[1])
    if loader is not None:
        try:
            return loader(data)
        except Unsure:
            pass
    result: dict[str, Any] = fallback(schema, data).load(data)
    return result


def compile_loader(schema: Schema, keys: Iterable[str]) -> Loader | None:
    """A function equivalent to ``schema.load`` for valid input with exactly ``keys``, or
    ``None`` when such input needs marshmallow (hooks, an unknown key, a required field
    missing). The function raises :class:`Unsure` for input it cannot vouch for."""
    hooks = schema._hooks  # marshmallow's record of the decorated methods
    if schema.many or hooks[PRE_LOAD] or hooks[POST_LOAD] or hooks[VALIDATES]:
        return None
    wanted = set(keys)
    partial = schema.partial
    partial_is_collection = is_collection(partial)
    partial_names: list[str] = list(partial) if is_collection(partial) else []
    # (output key, input key or None, converter, default): in the order marshmallow stores
    steps: list[tuple[str, str | None, Convert | None, Any]] = []
    known: set[str] = set()
    for attr_name, field in schema.load_fields.items():
        key = field.data_key if field.data_key is not None else attr_name
        out = field.attribute or attr_name
        known.add(key)
        if key not in wanted and (partial is True or attr_name in partial_names):
            continue
        if "." in out:
            return None  # marshmallow nests such a value; no schema of ours does that
        kwargs: dict[str, Any] = {}
        if partial_is_collection:
            prefix = attr_name + "."
            kwargs["partial"] = [p[len(prefix) :] for p in partial_names if p.startswith(prefix)]
        elif partial is not None:
            kwargs["partial"] = partial
        if key in wanted:
            steps.append((out, key, _converter(field, key, kwargs), None))
        elif type(field) not in _DIRECT and not _plain_missing(field):
            steps.append((out, None, _absent(field, key, kwargs), None))
        elif field.required:
            return None  # refused every time: marshmallow names the field
        elif field.load_default is not missing:
            steps.append((out, None, None, field.load_default))
    if not wanted <= known and schema.unknown != EXCLUDE:
        return None  # refused (RAISE) or kept as given (INCLUDE): marshmallow's to do
    validators = _schema_validators(schema)
    # with a field refused marshmallow runs no schema validator but those that ask to be run
    skipped_on_errors = all(
        options.get("skip_on_field_errors", True)
        for _name, _many, options in schema._hooks[VALIDATES_SCHEMA]
    )
    unknown = schema.unknown

    def load(data: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        refused: dict[str, list[str]] = {}
        try:
            for out, key, convert, default in steps:
                if key is not None:
                    try:
                        result[out] = convert(data[key], data)  # type: ignore[misc]
                    except Refused as exc:
                        refused[key] = [exc.message]
                elif convert is not None:
                    value = convert(missing, data)
                    if value is not missing:
                        result[out] = value
                else:
                    result[out] = default() if callable(default) else default
            if not refused:
                for validator, pass_original in validators:
                    if pass_original:
                        validator(result, data, partial=partial, many=False, unknown=unknown)
                    else:
                        validator(result, partial=partial, many=False, unknown=unknown)
        except ValidationError:
            raise Unsure from None
        if refused:
            if not skipped_on_errors:
                raise Unsure
            # marshmallow's answer: each refused field's message under its key
            raise ValidationError(refused, data=data, valid_data=result)
        return result

    return load


def _schema_validators(schema: Schema) -> list[tuple[Callable[..., Any], bool]]:
    """The schema's ``validates_schema`` methods in marshmallow's order."""
    hooks = schema._hooks[VALIDATES_SCHEMA]
    return [
        (getattr(schema, name), bool(options.get("pass_original", False)))
        for pass_collection in (True, False)
        for name, many, options in hooks
        if many == pass_collection
    ]


def _plain_missing(field: fields.Field) -> bool:
    """Whether ``field`` answers a missing value as every field does: its load default, or
    an error when it is required."""
    kind = type(field)
    return (
        kind.deserialize is fields.Field.deserialize
        and kind._validate_missing is fields.Field._validate_missing
    )


def _absent(field: fields.Field, key: str, kwargs: dict[str, Any]) -> Convert:
    """A field of a kind not compiled, absent from the input: its own answer to ``missing``."""

    def absent(value: Any, data: Any) -> Any:
        return field.deserialize(value, key, data, **kwargs)

    return absent


def _converter(field: fields.Field, attr: str | None, kwargs: dict[str, Any]) -> Convert:
    """The converter of ``field``'s values: a direct one for the kinds in ``_DIRECT``,
    else the field's own ``deserialize`` (exact by definition, only not faster)."""
    direct = None if field.pre_load or field.post_load else _DIRECT.get(type(field))
    fast = direct(field, kwargs) if direct is not None else None
    if fast is None:

        def generic(value: Any, data: Any) -> Any:
            return field.deserialize(value, attr, data, **kwargs)

        return generic
    validators = tuple(field.validators)
    allow_none = field.allow_none
    if type(field) is fields.String:
        bounds = _length_bounds(validators)
        if bounds is not None:
            return _bounded_string(allow_none, *bounds)
    blank_is_none = type(field) is Email  # ``Email.deserialize``: a blank is no address

    def convert(value: Any, data: Any) -> Any:
        if value is None or (blank_is_none and type(value) is str and not value.strip()):
            if not allow_none:
                raise Unsure
            return None
        output = fast(value)
        for validator in validators:
            validator(output)
        return output

    return convert


def _length_bounds(validators: tuple[Any, ...]) -> tuple[int, float] | None:
    """The lengths a string may have when its only validator (if any) is a ``Length``."""
    if not validators:
        return 0, float("inf")
    if len(validators) > 1 or type(validators[0]) is not validate.Length:
        return None
    length = validators[0]
    if length.equal is not None:
        return length.equal, length.equal
    return (
        length.min if length.min is not None else 0,
        length.max if length.max is not None else float("inf"),
    )


def _bounded_string(allow_none: bool, shortest: int, longest: float) -> Convert:
    """The converter of the commonest field: a string of a length, maybe ``None``."""

    def string(value: Any, data: Any) -> Any:
        if type(value) is str and shortest <= len(value) <= longest:
            return value
        if value is None and allow_none:
            return None
        raise Unsure

    return string


# Direct converters: each takes a value of the common input types (anything else raises
# Unsure) and returns what the field's ``_deserialize`` returns; validators run afterwards.


def _string(field: Any, kwargs: dict[str, Any]) -> Callable[[Any], Any]:
    def string(value: Any) -> Any:
        if type(value) is not str:
            raise Unsure
        return value

    return string


def _integer(field: Any, kwargs: dict[str, Any]) -> Callable[[Any], Any]:
    strict = field.strict

    def integer(value: Any) -> Any:
        kind = type(value)
        if kind is int:
            return value
        if kind is str and not strict:
            try:
                return int(value)
            except ValueError:
                raise Unsure from None
        raise Unsure

    return integer


def _boolean(field: Any, kwargs: dict[str, Any]) -> Callable[[Any], Any] | None:
    truthy, falsy = field.truthy, field.falsy
    if not truthy:
        return None  # ``bool(value)`` of anything: left to the field

    def boolean(value: Any) -> Any:
        if type(value) not in (bool, str, int):
            raise Unsure
        if value in truthy:
            return True
        if value in falsy:
            return False
        raise Unsure

    return boolean


def _raw(field: Any, kwargs: dict[str, Any]) -> Callable[[Any], Any]:
    return lambda value: value


def _list(field: Any, kwargs: dict[str, Any]) -> Callable[[Any], Any]:
    inner = _converter(field.inner, None, kwargs)

    def items(value: Any) -> Any:
        if type(value) not in (list, tuple):
            raise Unsure
        try:
            return [inner(item, None) for item in value]
        except Refused:
            raise Unsure from None  # marshmallow files an item's message under its index

    return items


def _dict(field: Any, kwargs: dict[str, Any]) -> Callable[[Any], Any] | None:
    key_field, value_field = field.key_field, field.value_field
    if key_field is None or value_field is None:
        return None  # marshmallow copies any mapping as it is: left to the field
    if type(key_field) is not fields.String or (
        key_field.validators or key_field.pre_load or key_field.post_load
    ):
        return None
    inner = _converter(value_field, None, kwargs)

    def mapping(value: Any) -> Any:
        if type(value) is not dict:
            raise Unsure
        result = {}
        for key, item in value.items():
            if type(key) is not str:
                raise Unsure
            try:
                result[key] = inner(item, None)
            except Refused:
                raise Unsure from None  # marshmallow files it under the key
        return result

    return mapping


def _email(field: Any, kwargs: dict[str, Any]) -> Callable[[Any], Any]:
    def email(value: Any) -> Any:
        if type(value) is not str:
            raise Unsure
        try:
            return normalise_email(value)
        except ValueError as exc:
            raise Refused(str(exc)) from None

    return email


def _phone(field: Any, kwargs: dict[str, Any]) -> Callable[[Any], Any]:
    def phone(value: Any) -> Any:
        if type(value) is not str:
            raise Unsure
        if not value.strip():
            return None
        try:
            return e164_number(value, default_region())
        except ValueError as exc:
            raise Refused(str(exc)) from None

    return phone


_DIRECT: dict[type[Any], Callable[[Any, dict[str, Any]], Callable[[Any], Any] | None]] = {
    fields.String: _string,
    fields.Integer: _integer,
    fields.Boolean: _boolean,
    fields.Raw: _raw,
    fields.List: _list,
    fields.Dict: _dict,
    Email: _email,
    Phone: _phone,
}
