"""What a database column can hold: the checks run on every value before SQL is sent."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import BigInteger, Integer, SmallInteger, String
from sqlalchemy import types as satypes

_INT_BITS = ((SmallInteger, 16), (BigInteger, 64), (Integer, 32))


def value_problem(column_type: Any, value: Any) -> str | None:
    """Why the database could not store ``value`` in a column of ``column_type``, or ``None``.

    Checked before SQL is sent, so out-of-range numbers, over-long strings, NUL characters and
    datetimes that overflow when moved to UTC are field errors (4xx) rather than driver errors
    (500, and on PostgreSQL an aborted transaction). ``column_type`` may be ``None`` for values
    that are not columns; only NUL characters are refused then.
    """
    if isinstance(value, str):
        if "\x00" in value:
            return "Contains a NUL character."
        length = getattr(_impl(column_type), "length", None)
        if isinstance(_impl(column_type), String) and length and len(value) > length:
            return f"Longer than maximum length {length}."
        return None
    if isinstance(value, Mapping):
        for key, item in value.items():
            problem = value_problem(None, key) or value_problem(None, item)
            if problem is not None:
                return problem
        return None
    if isinstance(value, list | tuple):
        for item in value:
            problem = value_problem(None, item)
            if problem is not None:
                return problem
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        bits = _int_bits(column_type)
        if bits is not None and not -(2 ** (bits - 1)) <= value < 2 ** (bits - 1):
            return "Number out of range."
        return None
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        try:
            value.astimezone(dt.UTC)
        except OverflowError:
            return "Date out of range."
    return None


class ColumnChecks:
    """:func:`value_problem` for the columns of one model, worked out once per column: the
    common values (strings, integers, ``None``) are checked without inspecting the type."""

    def __init__(self, column_types: Mapping[str, Any]) -> None:
        self._types = dict(column_types)
        self._lengths: dict[str, int] = {}
        self._ranges: dict[str, tuple[int, int] | None] = {}
        for name, column_type in self._types.items():
            impl = _impl(column_type)
            length = getattr(impl, "length", None)
            if isinstance(impl, String) and length:
                self._lengths[name] = length
            bits = _int_bits(column_type)
            self._ranges[name] = None if bits is None else (-(2 ** (bits - 1)), 2 ** (bits - 1))

    def problem(self, name: str, value: Any) -> str | None:
        """Why column ``name`` (or a value that is not a column) could not hold ``value``."""
        kind = type(value)
        if kind is str:
            if "\x00" in value:
                return "Contains a NUL character."
            length = self._lengths.get(name)
            if length is not None and len(value) > length:
                return f"Longer than maximum length {length}."
            return None
        if value is None or kind is bool:
            return None
        if kind is int and name in self._ranges:
            bounds = self._ranges[name]
            if bounds is not None and not bounds[0] <= value < bounds[1]:
                return "Number out of range."
            return None
        if kind is list:  # tags: the items of a list are checked as values of no column
            for item in value:
                if type(item) is not str or "\x00" in item:
                    return value_problem(self._types.get(name), value)
            return None
        if kind is dict:  # custom fields: keys and items are checked as values of no column
            for key, item in value.items():
                if (
                    type(key) is not str
                    or "\x00" in key
                    or (item is not None and (type(item) is not str or "\x00" in item))
                ):
                    return value_problem(self._types.get(name), value)
            return None
        return value_problem(self._types.get(name), value)


def _int_bits(column_type: Any) -> int | None:
    """The bits of an integer column; 64 for values that are not columns (ids in lists)."""
    impl = _impl(column_type)
    # ids in lists (``member_ids``) are compared as 64-bit; no driver takes more
    return next(
        (b for kind, b in _INT_BITS if isinstance(impl, kind)),
        64 if column_type is None else None,
    )


def _impl(column_type: Any) -> Any:
    """The underlying type of a ``TypeDecorator`` (``AwareDateTime`` -> ``DateTime``)."""
    if isinstance(column_type, satypes.TypeDecorator):
        return column_type.impl_instance
    return column_type
