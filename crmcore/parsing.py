"""Strict reading of numbers and ids from text (paths, query strings, headers, forms).

``str.isdigit()`` is true for "²" and other Unicode digits that ``int()`` refuses, and ``int()``
takes any length; these helpers take ASCII digits only, within the range the database can hold,
so a bad value is a clear 4xx (or no match) instead of a driver error.
"""

from __future__ import annotations

import decimal
import re
from typing import Any

from werkzeug.routing import IntegerConverter, Map

#: The largest id an ``INTEGER`` column holds (PostgreSQL's is 32-bit).
MAX_ID = 2**31 - 1
_DIGITS = re.compile(r"[0-9]{1,18}")
#: Decimals beyond this many digits either side of the point are refused (``1e999999999``).
MAX_DECIMAL_DIGITS = 40


def is_whole(text: str) -> bool:
    """Whether ``text`` is 1 to 18 ASCII digits (no sign, no spaces, no "²")."""
    return _DIGITS.fullmatch(text) is not None


def whole_number(text: str | None, low: int = 0, high: int = 2**63 - 1) -> int | None:
    """``text`` as an ``int`` if it is ASCII digits from ``low`` to ``high``; else ``None``."""
    if text is None or not is_whole(text):
        return None
    value = int(text)
    return value if low <= value <= high else None


def record_id(text: str | None) -> int | None:
    """``text`` as a record id (1 to :data:`MAX_ID`), or ``None``."""
    return whole_number(text, 1, MAX_ID)


def finite_decimal(text: str) -> decimal.Decimal:
    """``text`` as a finite decimal of sensible size; ``ValueError`` otherwise (``NaN``,
    ``sNaN``, ``Infinity``, ``1e999999999``)."""
    try:
        value = decimal.Decimal(text.strip())
    except (decimal.InvalidOperation, ArithmeticError):
        raise ValueError(text) from None
    if not value.is_finite():
        raise ValueError(text)
    sign_digits_exponent = value.as_tuple()
    exponent = int(sign_digits_exponent.exponent)
    whole_digits = len(sign_digits_exponent.digits) + exponent
    if whole_digits > MAX_DECIMAL_DIGITS or -exponent > MAX_DECIMAL_DIGITS:
        raise ValueError(text)
    return value


class IdConverter(IntegerConverter):
    """The ``int`` converter of every route: ASCII digits only, at most :data:`MAX_ID`, so a
    path such as ``/imports/2147483648`` finds no route (404) rather than a database error."""

    regex = r"[0-9]{1,10}"

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)
