"""A report definition: what the user asks for, checked against the allow-list and their rights.

The JSON form (the API's body and the saved report's ``definition``)::

    {"entity": "deals",                       # any registered entity, singular or plural,
                                              # or its line items: "orders.lines"
     "joins": ["company_id"],                 # references of that entity to join
     "filters": {"amount__gte": "100",        # the list filter language, per entity:
                 "company_id.name__contains": "acme"},   # <join>.<field> for a joined one
                                              # custom fields: custom.<name>, <join>.custom.<name>
     "group_by": ["stage_id", {"field": "close_date", "bucket": "month"}],   # up to two
     "measures": ["count", {"op": "sum", "field": "amount"}],   # or "sum:amount"
     "sort": ["-sum:amount"],                 # keys of groups or measures, "-" descending
     "limit": 100}

A line source (``orders.lines``, see :mod:`.lines`) counts lines: their fields are
``line.<name>`` (``sum:line.total``, ``line.product_id``), a reference of the line is joined as
``line.<field>`` (``line.product_id.name``), and the parent's own fields, filters and joins are
used as in the parent's report. Filters apply to the parent and its joins, not to the line's
own fields.

Every refusal names the part of the definition at fault (``group_by.1.bucket``,
``joins.0``...), with a message that does not repeat user input.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from crmcore import CRMError, ValidationError
from crmcore.api import listing
from crmcore.references import references
from werkzeug.datastructures import MultiDict

from . import lines
from .fields import DATE_KINDS, MEASURES_BY_KIND, ReportField, report_fields

MEASURES = ("count", "sum", "avg", "min", "max", "count_distinct")
BUCKETS = ("day", "week", "month", "quarter", "year")
MAX_JOINS = 3
MAX_GROUPS = 2
MAX_MEASURES = 10
MAX_FILTERS = 30
DEFAULT_LIMIT = 500
MAX_LIMIT = 5000

UNKNOWN_FIELD = "No such field, or it cannot be used in reports."
NOT_JOINED = "Add the join of this field to the report first."
NO_ENTITY = "No such entity."
NOT_READABLE = "You may not read these records."
JOIN_NOT_READABLE = "You may not read the records this join reaches."
NOT_A_REFERENCE = "Not a reference of this entity to another entity."
SELF_JOIN = "A join to the same entity is not supported."
JOIN_TWICE = "Join each reference once."
BAD_BUCKET = "Date buckets are day, week, month, quarter or year."
BUCKET_NOT_DATE = "Only date fields take a bucket."
BAD_MEASURE = "Measures are count, sum, avg, min, max or count_distinct."
MEASURE_NEEDS_FIELD = "This measure needs a field."
TEXT_MEASURE = "A text field takes only a distinct count."
DATE_MEASURE = "A date field takes only min, max or a distinct count."
OTHER_MEASURE = "This field takes only a distinct count."
BAD_SORT = "Sort by a group or a measure of this report."
BAD_LIMIT = "Must be a whole number between 1 and 5000."
TOO_MANY = "Too many items."
NEEDS_MEASURE = "Add at least one measure."
NOT_A_LIST = "Must be a list."
NOT_AN_OBJECT = "Must be an object."
BAD_VALUE = "Not a valid value."
DUPLICATE = "Each group and measure may appear once."
RESERVED_FILTER = "Not a filter of the list language."
LINE_FILTER = "Filters apply to the parent record and its joins, not to a line's own fields."


@dataclass(frozen=True)
class FieldRef:
    """A field of the report's entity (``join`` is ``None``) or of a joined one."""

    join: str | None
    name: str
    info: ReportField = field(compare=False)

    @property
    def key(self) -> str:
        return f"{self.join}.{self.name}" if self.join else self.name


@dataclass(frozen=True)
class Group:
    field: FieldRef
    bucket: str | None = None

    @property
    def key(self) -> str:
        return f"{self.field.key}:{self.bucket}" if self.bucket else self.field.key


@dataclass(frozen=True)
class Measure:
    op: str
    field: FieldRef | None = None

    @property
    def key(self) -> str:
        return f"{self.op}:{self.field.key}" if self.field else self.op


@dataclass
class Definition:
    """A checked definition. ``entity`` and the joins' targets are registry entities."""

    entity: Any
    joins: dict[str, Any]  # reference field -> target entity
    filters: dict[str, list[str]]  # list-language key -> values, as given
    group_by: tuple[Group, ...]
    measures: tuple[Measure, ...]
    sort: tuple[tuple[str, bool], ...]  # (key, descending)
    limit: int
    params: dict[str | None, listing.ListParams] = field(default_factory=dict, repr=False)
    lines: lines.LineSource | None = None  # counting the lines of the entity's records

    @property
    def source(self) -> str:
        """The name of what the report counts: the entity's plural or its line source."""
        return self.lines.key if self.lines is not None else str(self.entity.plural)

    def as_json(self) -> dict[str, Any]:
        """The canonical JSON form (what a saved report stores)."""
        return {
            "entity": self.source,
            "joins": list(self.joins),
            "filters": {k: v[0] if len(v) == 1 else v for k, v in self.filters.items()},
            "group_by": [
                {"field": g.field.key, **({"bucket": g.bucket} if g.bucket else {})}
                for g in self.group_by
            ],
            "measures": [
                {"op": m.op, **({"field": m.field.key} if m.field else {})} for m in self.measures
            ],
            "sort": [("-" if desc else "") + key for key, desc in self.sort],
            "limit": self.limit,
        }


class _Errors:
    def __init__(self) -> None:
        self.messages: dict[str, list[str]] = {}
        self.refused_joins: set[str] = set()  # their fields are not reported again

    def add(self, part: str, message: str) -> None:
        self.messages.setdefault(part, []).append(message)

    def raise_any(self) -> None:
        if self.messages:
            raise ValidationError(self.messages, "The report definition has errors.")


def parse_definition(service: Any, raw: Any) -> Definition:
    """Check ``raw`` (decoded JSON) for ``service``'s user; ``ValidationError`` names each part
    at fault (``entity``, ``joins.0``, ``filters.<key>``, ``group_by.0.field``...)."""
    errors = _Errors()
    if not isinstance(raw, Mapping):
        raise ValidationError({"definition": [NOT_AN_OBJECT]})
    unknown = set(raw) - {"entity", "joins", "filters", "group_by", "measures", "sort", "limit"}
    for key in sorted(unknown)[:5]:
        errors.add(str(key)[:50], "Unknown part of a report definition.")
    entity, line_source = _entity(service, raw.get("entity"), errors)
    errors.raise_any()
    joins = _joins(service, entity, line_source, raw.get("joins", []), errors)
    fields_of: dict[str | None, dict[str, ReportField]] = {None: report_fields(service, entity)}
    if line_source is not None:
        fields_of[lines.LINE] = line_source.fields
    for ref, target in joins.items():
        fields_of[ref] = report_fields(service, target)
    filters, params = _filters(
        service, entity, joins, raw.get("filters", {}), errors, line_source is not None
    )
    groups = _groups(raw.get("group_by", []), fields_of, errors)
    measures = _measures(raw.get("measures", ["count"]), fields_of, errors)
    keys = [g.key for g in groups] + [m.key for m in measures]
    if len(set(keys)) != len(keys):
        errors.add("group_by", DUPLICATE)
    sort = _sort(raw.get("sort", []), keys, errors)
    limit = _limit(raw.get("limit", DEFAULT_LIMIT), errors)
    errors.raise_any()
    return Definition(entity, joins, filters, groups, measures, sort, limit, params, line_source)


def source_of(service: Any, name: str) -> tuple[Any, lines.LineSource | None]:
    """The entity a definition's ``entity`` names (``orders``), or the parent entity and the
    line source of ``<plural>.<list>`` (``orders.lines``); ``CRMError`` when there is none."""
    head, dot, rest = name.partition(".")
    if not dot:
        return service.entity(name), None
    entity = service.entity(head)
    found = lines.source(service, entity, rest)
    if found is None:
        raise CRMError(NO_ENTITY)
    return entity, found


def _entity(service: Any, name: Any, errors: _Errors) -> tuple[Any, lines.LineSource | None]:
    if not isinstance(name, str) or not name:
        errors.add("entity", NO_ENTITY)
        return None, None
    try:
        entity, line_source = source_of(service, name[:100])
    except CRMError:
        errors.add("entity", NO_ENTITY)
        return None, None
    if not service.access.can(entity, "read"):
        errors.add("entity", NOT_READABLE)
    return entity, line_source


def _join_target(
    service: Any, entity: Any, line_source: lines.LineSource | None, name: Any
) -> tuple[Any, bool]:
    """The entity a join reaches (``None`` when the name is no reference), and whether the
    name is a reference at all (its fields are then not reported again when refused)."""
    if not isinstance(name, str):
        return None, False
    head, dot, rest = name.partition(".")
    if dot and head == lines.LINE and line_source is not None:
        target = line_source.targets.get(rest)
        return target, target is not None
    ref = references(service, entity).get(name)
    if ref is None:
        return None, False
    return (service.entity(ref.target) if ref.target is not None else None), True


def _joins(
    service: Any, entity: Any, line_source: lines.LineSource | None, raw: Any, errors: _Errors
) -> dict[str, Any]:
    if not isinstance(raw, list):
        errors.add("joins", NOT_A_LIST)
        return {}
    if len(raw) > MAX_JOINS:
        errors.add("joins", TOO_MANY)
        return {}
    out: dict[str, Any] = {}
    for i, name in enumerate(raw):
        target, is_reference = _join_target(service, entity, line_source, name)
        if is_reference:
            errors.refused_joins.add(name)
        if target is None:
            errors.add(f"joins.{i}", NOT_A_REFERENCE)
            continue
        if target.model is entity.model:
            errors.add(f"joins.{i}", SELF_JOIN)
        elif name in out or any(t.model is target.model for t in out.values()):
            errors.add(f"joins.{i}", JOIN_TWICE)
        elif not service.access.can(target, "read"):
            errors.add(f"joins.{i}", JOIN_NOT_READABLE)
        else:
            out[name] = target
            errors.refused_joins.discard(name)
    return out


def _filter_values(value: Any) -> list[str] | None:
    values = value if isinstance(value, list) else [value]
    out = []
    for v in values[:100]:
        if isinstance(v, bool):
            out.append("true" if v else "false")
        elif isinstance(v, int | float | str):
            out.append(str(v))
        else:
            return None
    return out or None


def _filters(
    service: Any, entity: Any, joins: dict[str, Any], raw: Any, errors: _Errors, has_lines: bool
) -> tuple[dict[str, list[str]], dict[str | None, listing.ListParams]]:
    if not isinstance(raw, Mapping):
        errors.add("filters", NOT_AN_OBJECT)
        return {}, {}
    if len(raw) > MAX_FILTERS:
        errors.add("filters", TOO_MANY)
        return {}, {}
    by_join: dict[str | None, MultiDict[str, str]] = {None: MultiDict()}
    kept: dict[str, list[str]] = {}
    for key, value in raw.items():
        part = f"filters.{str(key)[:100]}"
        values = _filter_values(value)
        if not isinstance(key, str) or values is None:
            errors.add(part, BAD_VALUE)
            continue
        join, dot, rest = _split_join(key, joins)
        if join == lines.LINE and has_lines:
            line_join = f"{lines.LINE}.{rest.partition('.')[0]}"
            if "." not in rest.partition("__")[0]:
                errors.add(part, LINE_FILTER)
            elif line_join not in errors.refused_joins:
                errors.add(part, NOT_JOINED)
            continue
        if dot and join not in ("custom",):
            if join not in joins:
                if join not in errors.refused_joins:
                    errors.add(part, NOT_JOINED)
                continue
            target_key: str | None = join
        else:
            target_key, rest = None, key
        if rest.partition("__")[0] in listing.RESERVED:
            errors.add(part, RESERVED_FILTER)
            continue
        by_join.setdefault(target_key, MultiDict())
        for v in values:
            by_join[target_key].add(rest, v)
        kept[key] = values
    params: dict[str | None, listing.ListParams] = {}
    crm = service.crm
    for join_key, args in by_join.items():
        target = entity if join_key is None else joins[join_key]
        try:
            params[join_key] = listing.parse(
                target, args, crm.settings.secret_key, _custom_defs(service, target)
            )
        except listing.BadQuery as exc:
            prefix = f"{join_key}." if join_key else ""
            for name, messages in exc.messages.items():
                for message in messages:
                    errors.add(f"filters.{prefix}{name}", message)
    return kept, params


def _split_join(key: str, joins: Mapping[Any, Any]) -> tuple[str, str, str]:
    """``<join>.<rest>`` of a filter or field name: a line's join (``line.product_id``) is the
    longest join whose name with a dot begins ``key``."""
    if key.startswith(lines.LINE + "."):
        for name in joins:
            if (
                isinstance(name, str)
                and name.startswith(lines.LINE + ".")
                and key.startswith(name + ".")
            ):
                return name, ".", key[len(name) + 1 :]
    return key.partition(".")


def _custom_defs(service: Any, entity: Any) -> Any:
    return lambda: service.crm.custom_field_defs(service.session, entity)


def _field(
    raw: Any, fields_of: dict[str | None, dict[str, ReportField]], part: str, errors: _Errors
) -> FieldRef | None:
    if not isinstance(raw, str):
        errors.add(part, UNKNOWN_FIELD)
        return None
    join, dot, name = _split_join(raw, fields_of)
    if join == lines.LINE and "." in name:  # a field of a line's join not joined
        join = f"{lines.LINE}.{name.partition('.')[0]}"
    if not dot or join == "custom":  # custom.<name> is a field of the report's entity
        join, name = "", raw
    if join and join not in fields_of:
        if join not in errors.refused_joins:
            errors.add(part, NOT_JOINED)
        return None
    info = fields_of[join or None].get(name)
    if info is None:
        errors.add(part, UNKNOWN_FIELD)
        return None
    return FieldRef(join or None, name, info)


def _groups(
    raw: Any, fields_of: dict[str | None, dict[str, ReportField]], errors: _Errors
) -> tuple[Group, ...]:
    if not isinstance(raw, list):
        errors.add("group_by", NOT_A_LIST)
        return ()
    if len(raw) > MAX_GROUPS:
        errors.add("group_by", TOO_MANY)
        return ()
    out = []
    for i, item in enumerate(raw):
        if isinstance(item, str):
            name, _, bucket_raw = item.partition(":")
            item = {"field": name, **({"bucket": bucket_raw} if bucket_raw else {})}
        if not isinstance(item, Mapping):
            errors.add(f"group_by.{i}", NOT_AN_OBJECT)
            continue
        ref = _field(item.get("field"), fields_of, f"group_by.{i}.field", errors)
        bucket = item.get("bucket")
        if bucket is not None and bucket not in BUCKETS:
            errors.add(f"group_by.{i}.bucket", BAD_BUCKET)
            continue
        if ref is None:
            continue
        if bucket is not None and ref.info.kind not in DATE_KINDS:
            errors.add(f"group_by.{i}.bucket", BUCKET_NOT_DATE)
            continue
        out.append(Group(ref, bucket))
    return tuple(out)


def _measures(
    raw: Any, fields_of: dict[str | None, dict[str, ReportField]], errors: _Errors
) -> tuple[Measure, ...]:
    if not isinstance(raw, list):
        errors.add("measures", NOT_A_LIST)
        return ()
    if not raw:
        errors.add("measures", NEEDS_MEASURE)
        return ()
    if len(raw) > MAX_MEASURES:
        errors.add("measures", TOO_MANY)
        return ()
    out = []
    for i, item in enumerate(raw):
        if isinstance(item, str):
            op_raw, _, name = item.partition(":")
            item = {"op": op_raw, **({"field": name} if name else {})}
        if not isinstance(item, Mapping):
            errors.add(f"measures.{i}", NOT_AN_OBJECT)
            continue
        op = item.get("op")
        if op not in MEASURES:
            errors.add(f"measures.{i}.op", BAD_MEASURE)
            continue
        if op == "count" and item.get("field") is None:
            out.append(Measure("count"))
            continue
        if item.get("field") is None:
            errors.add(f"measures.{i}.field", MEASURE_NEEDS_FIELD)
            continue
        ref = _field(item.get("field"), fields_of, f"measures.{i}.field", errors)
        if ref is None:
            continue
        if op != "count" and op not in MEASURES_BY_KIND[ref.info.kind]:
            message = {"text": TEXT_MEASURE, "date": DATE_MEASURE, "datetime": DATE_MEASURE}
            errors.add(f"measures.{i}.field", message.get(ref.info.kind, OTHER_MEASURE))
            continue
        out.append(Measure(op, ref))
    return tuple(out)


def _sort(raw: Any, keys: list[str], errors: _Errors) -> tuple[tuple[str, bool], ...]:
    if isinstance(raw, str):
        raw = [raw] if raw else []
    if not isinstance(raw, list):
        errors.add("sort", NOT_A_LIST)
        return ()
    out = []
    for i, item in enumerate(raw[: len(keys) + 1]):
        if not isinstance(item, str) or item.lstrip("-") not in keys:
            errors.add(f"sort.{i}", BAD_SORT)
            continue
        out.append((item.lstrip("-"), item.startswith("-")))
    return tuple(out)


def _limit(raw: Any, errors: _Errors) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= MAX_LIMIT:
        errors.add("limit", BAD_LIMIT)
        return DEFAULT_LIMIT
    return raw
