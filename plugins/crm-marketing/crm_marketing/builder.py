"""The segment builder: rows of field / operator / value, read and written as a segment's
existing filter language (``query``, ``company_query``, ``conditions``).

A row on a contact field, a custom field or the tags becomes one filter of ``query``
(``country=ES``, ``created_at__gte=2026-01-01``, ``custom.tier__in=gold,silver``); a row on a
company field one of ``company_query``; a purchase-history row one of ``conditions``. Rows are
combined with AND, as the filter language does; "any of" (``in``) chooses among several values
of one field. Whatever the rows cannot say stays available as the query text ("advanced").

Rows belong to groups (``group-N`` in the form): the rows of a group are AND-ed, the groups
OR-ed. The first group is the segment's ``query``, ``company_query`` and ``conditions``; each
further group is one of its ``or_groups``, in the same three parts. The filter language keeps
no OR across fields; the segment's evaluation OR-s the groups.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

from flask_babel import lazy_gettext as _l

MAX_ROWS = 30
#: groups in the builder: the first and ``segments.MAX_OR_GROUPS`` more
MAX_GROUPS = 11

#: (key, label) of the contact fields the builder offers
CONTACT_FIELDS = (
    ("first_name", _l("First name")),
    ("last_name", _l("Last name")),
    ("email", _l("Email")),
    ("title", _l("Job title")),
    ("city", _l("City")),
    ("country", _l("Country")),
    ("locale", _l("Language")),
    ("source", _l("Source")),
    ("tags", _l("Tags")),
    ("email_opt_out", _l("Email opt out")),
    ("created_at", _l("Created")),
)
COMPANY_FIELDS = (
    ("name", _l("Company name")),
    ("domain", _l("Company domain")),
    ("industry", _l("Company industry")),
    ("city", _l("Company city")),
    ("country", _l("Company country")),
)
PURCHASE_FIELDS = (
    ("bought_product", _l("Bought the product (id)")),
    ("no_order_in_days", _l("No order in the last days")),
    ("lifetime_value_over", _l("Spent more than (amount currency)")),
)
OPERATORS = (
    ("eq", _l("is")),
    ("ne", _l("is not")),
    ("contains", _l("contains")),
    ("in", _l("is any of (comma-separated)")),
    ("gt", _l("is more than")),
    ("gte", _l("is at least")),
    ("lt", _l("is less than")),
    ("lte", _l("is at most")),
    ("isnull", _l("is empty (true/false)")),
)
_OPERATOR_KEYS = {key for key, _label in OPERATORS}


@dataclass
class Row:
    """One row of the builder: ``field`` is ``contact.<f>``, ``custom.<f>``, ``company.<f>``
    or ``purchase.<type>``."""

    field: str = ""
    op: str = "eq"
    value: str = ""
    group: int = 0

    @property
    def blank(self) -> bool:
        return not self.field and not self.value.strip()


def field_choices(custom_defs: list[Any]) -> list[tuple[str, list[tuple[str, Any]]]]:
    """The grouped choices of the field menu (``<optgroup>`` label, options)."""
    groups: list[tuple[str, list[tuple[str, Any]]]] = [
        (str(_l("Contact")), [(f"contact.{k}", label) for k, label in CONTACT_FIELDS]),
    ]
    if custom_defs:
        options = [(f"custom.{d.name}", d.label or d.name) for d in custom_defs]
        groups.append((str(_l("Custom fields")), options))
    groups.append((str(_l("Company")), [(f"company.{k}", label) for k, label in COMPANY_FIELDS]))
    groups.append(
        (str(_l("Purchase history")), [(f"purchase.{k}", label) for k, label in PURCHASE_FIELDS])
    )
    return groups


def rows_from_form(form: Any) -> list[Row]:
    """The rows posted as ``field-N``, ``op-N``, ``value-N`` (at most :data:`MAX_ROWS`)."""
    rows = []
    for index in range(MAX_ROWS):
        field = str(form.get(f"field-{index}", "")).strip()[:100]
        op = str(form.get(f"op-{index}", "eq")).strip()[:10]
        value = str(form.get(f"value-{index}", ""))[:500]
        if f"field-{index}" not in form:
            break
        raw_group = str(form.get(f"group-{index}", "0")).strip()
        group = int(raw_group) if raw_group.isascii() and raw_group.isdigit() else 0
        rows.append(Row(field, op if op in _OPERATOR_KEYS else "eq", value, min(group, 99)))
    return normalised(rows)


def normalised(rows: list[Row]) -> list[Row]:
    """The rows in group order (stable), the groups numbered 0, 1, 2... without gaps and at
    most :data:`MAX_GROUPS` of them (rows of further groups join the last one)."""
    ordered = sorted(rows, key=lambda r: r.group)
    numbers: dict[int, int] = {}
    for row in ordered:
        numbers.setdefault(row.group, min(len(numbers), MAX_GROUPS - 1))
        row.group = numbers[row.group]
    return ordered


def grouped(rows: list[Row]) -> list[list[tuple[int, Row]]]:
    """The rows by group, each with its index in ``rows`` (the number of its inputs)."""
    out: list[list[tuple[int, Row]]] = []
    for index, row in enumerate(rows):
        while len(out) <= row.group:
            out.append([])
        out[row.group].append((index, row))
    return [g for g in out if g]


class RowError(ValueError):
    """A row that cannot be written as a filter; ``index`` names it."""

    def __init__(self, index: int, message: str) -> None:
        super().__init__(message)
        self.index = index


def to_segment(rows: list[Row]) -> dict[str, Any]:
    """``query``, ``company_query``, ``conditions`` and ``or_groups`` of the rows: the first
    group with a filled row gives the first three, each further one a group of ``or_groups``
    (blank rows skipped, groups of blank rows dropped).

    Raises :class:`RowError` for a row without a field or a purchase row whose value does not
    fit; the filters themselves are checked by the segment's validation when saved or counted.
    """
    groups = [_group_values(g) for g in grouped(rows) if any(not row.blank for _i, row in g)] or [
        _group_values([])
    ]
    return {**groups[0], "or_groups": groups[1:]}


def _group_values(rows: list[tuple[int, Row]]) -> dict[str, Any]:
    """``query``, ``company_query`` and ``conditions`` of the rows of one group."""
    query: list[tuple[str, str]] = []
    company: list[tuple[str, str]] = []
    conditions: list[dict[str, Any]] = []
    for index, row in rows:
        if row.blank:
            continue
        kind, _dot, name = row.field.partition(".")
        value = row.value.strip()
        if not name or kind not in ("contact", "custom", "company", "purchase"):
            raise RowError(index, str(_l("Choose a field.")))
        suffix = "" if row.op == "eq" else f"__{row.op}"
        if kind == "contact":
            query.append((f"{name}{suffix}", value))
        elif kind == "custom":
            query.append((f"custom.{name}{suffix}", value))
        elif kind == "company":
            company.append((f"{name}{suffix}", value))
        else:
            conditions.append(_condition(index, name, value))
    return {
        "query": urlencode(query),
        "company_query": urlencode(company),
        "conditions": conditions,
    }


def _condition(index: int, kind: str, value: str) -> dict[str, Any]:
    if not value:
        raise RowError(index, str(_l("Give a value.")))
    if kind == "bought_product":
        return {"type": kind, "product_id": value}
    if kind == "no_order_in_days":
        return {"type": kind, "days": value}
    if kind == "lifetime_value_over":
        amount, _sep, currency = value.partition(" ")
        if not currency.strip():
            raise RowError(index, str(_l('Give an amount and a currency, such as "500 EUR".')))
        return {"type": kind, "amount": amount, "currency": currency.strip()}
    raise RowError(index, str(_l("Choose a field.")))


def from_segment(
    query: str, company_query: str, conditions: list[Any], or_groups: list[Any] | None = None
) -> list[Row] | None:
    """The rows of a saved segment, its ``or_groups`` as further groups; ``None`` when a query
    says more than rows can (a search ``q``, an unknown operator): edit it as text then."""
    rows = _group_rows(query, company_query, conditions)
    if rows is None:
        return None
    for number, group in enumerate(or_groups or (), 1):
        found = _group_rows(
            str(group.get("query") or ""),
            str(group.get("company_query") or ""),
            list(group.get("conditions") or ()),
        )
        if found is None:
            return None
        for row in found:
            row.group = number
        rows += found
    return rows


def _group_rows(query: str, company_query: str, conditions: list[Any]) -> list[Row] | None:
    rows: list[Row] = []
    for prefix, text in (("contact", query), ("company", company_query)):
        for key, value in parse_qsl((text or "").removeprefix("?"), keep_blank_values=True):
            if key == "q":
                return None
            name, _sep, op = key.partition("__")
            if op and op not in _OPERATOR_KEYS:
                return None
            if prefix == "contact" and name.startswith("custom."):
                rows.append(Row(name, op or "eq", value))
            else:
                rows.append(Row(f"{prefix}.{name}", op or "eq", value))
    for condition in conditions or ():
        kind = condition.get("type", "")
        if kind == "lifetime_value_over":
            value = f"{condition.get('amount', '')} {condition.get('currency', '')}"
        else:
            value = str(condition.get("product_id", condition.get("days", "")))
        rows.append(Row(f"purchase.{kind}", "eq", value))
    return rows
