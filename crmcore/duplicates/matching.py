"""The rules that call two records likely duplicates, and the batched look-ups applying them."""

from __future__ import annotations

import collections
import difflib
import functools
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import marshmallow
from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Integer,
    Select,
    String,
    and_,
    any_,
    bindparam,
    cast,
    column,
    func,
    literal,
    or_,
    select,
    true,
    tuple_,
    union_all,
)
from sqlalchemy.dialects.postgresql import JSONB

from ..db import json_list, json_values
from ..errors import CRMError
from ..instances import loaded_ids
from ..parsing import MAX_ID

if TYPE_CHECKING:
    from ..records import RecordService
    from ..registry import Entity

#: score of each reason; a pair matching on several reasons scores the best plus 5 per extra
SCORES = {"email": 95, "phone": 85, "domain": 90, "name": 80, "similar_name": 70}
#: candidates read per checked record at most (a switchboard number shared by hundreds)
PER_RECORD = 20
#: conditions of a batch's look-up that SQLite runs as a union at most (its limit is 500)
UNION_TERMS = 100
#: names at least this similar (difflib ratio of their keys) count as "similar"
SIMILAR = 0.88

_LEGAL_FORMS = {
    "ab",
    "ag",
    "bv",
    "co",
    "company",
    "corp",
    "corporation",
    "gmbh",
    "inc",
    "limited",
    "llc",
    "ltd",
    "nv",
    "oy",
    "plc",
    "sa",
    "sac",
    "sarl",
    "sas",
    "sl",
    "slu",
    "sll",
    "spa",
    "srl",
    "scp",
    "sc",
    "cb",
    "sociedad",
    "limitada",
    "anonima",
}
_WORD = re.compile(r"[^\W_]+")
_DIGITS = re.compile(r"\d+")


@dataclass(frozen=True)
class Candidate:
    """An existing record that a new (or given) record may duplicate.

    :ivar id: the existing record's id.
    :ivar title: its display title.
    :ivar score: 0-100, how likely the two are the same.
    :ivar reasons: why: ``email``, ``phone``, ``name``, ``similar_name``, ``domain``.
    """

    id: int
    title: str
    score: int
    reasons: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        """The shape of one entry of the API's ``duplicates`` hint."""
        return {
            "id": self.id,
            "title": self.title,
            "score": self.score,
            "reasons": list(self.reasons),
        }


@functools.lru_cache(maxsize=65536)  # a batch compares each candidate's name with every row
def fold(text: str | None) -> str:
    """Lower case without accents or punctuation, words separated by one space."""
    decomposed = unicodedata.normalize("NFKD", (text or "").casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(_WORD.findall(plain))


def person_key(first_name: str | None, last_name: str | None) -> str:
    """A person's name as compared: folded, first name then last name."""
    return fold(f"{first_name or ''} {last_name or ''}")


@functools.lru_cache(maxsize=65536)
def company_key(name: str | None) -> str:
    """A company name as compared: folded, without legal forms (S.L., Inc., GmbH...)."""
    words = fold((name or "").replace(".", "")).split()
    kept = [w for w in words if w not in _LEGAL_FORMS]
    return " ".join(kept or words)


def similar(a: str, b: str) -> bool:
    """Keys at least ``SIMILAR`` alike, with the same numbers ("Tienda 1" and "Tienda 2" are
    two shops). The cheap upper bounds of the ratio are tried first: in a batch most pairs are
    told apart by their lengths or letters alone."""
    if not a or not b or _DIGITS.findall(a) != _DIGITS.findall(b):
        return False
    matcher = difflib.SequenceMatcher(None, a, b)
    return (
        matcher.real_quick_ratio() >= SIMILAR
        and matcher.quick_ratio() >= SIMILAR
        and matcher.ratio() >= SIMILAR
    )


@functools.lru_cache(maxsize=65536)  # few first names, compared again and again
def first_names_match(a: str, b: str) -> bool:
    """``ana`` and ``ana maria``, ``j`` and ``juan``, ``jon`` and ``john`` match."""
    a, b = fold(a), fold(b)
    if not a or not b:
        return True  # only a last name on one side: the company and last name decide
    if a == b or a.startswith(b) or b.startswith(a):
        return True
    return similar(a, b)


def _domain(values: Mapping[str, Any]) -> str | None:
    domain = values.get("domain")
    if not domain and values.get("website"):
        domain = urlsplit(str(values["website"])).hostname
    if not domain:
        return None
    domain = str(domain).strip().lower().rstrip(".")
    return domain.removeprefix("www.") or None


def _prefix(name: str | None) -> str | None:
    """The first word of a lowered name: companies whose lowered name starts with it are read."""
    lowered = (name or "").strip().lower()
    match = _WORD.match(lowered)
    return match.group(0) if match else None


# rules --------------------------------------------------------------------------------------

#: a look-up's term: a condition on the entity's table, or a query of the ids it finds
Term = ColumnElement[bool] | Select[Any]
#: a look-up's terms and the values of the parameters they name
Terms = tuple[list[Term], dict[str, Any]]


@dataclass(frozen=True)
class Rule:
    """How one entity's duplicates are found.

    :ivar columns: columns read of each candidate (besides ``id`` and the title fields).
    :ivar condition: ``condition(entity, rows, json_lists, keys)`` - SQL terms, each served
        by an index, any of which matches every candidate of any of ``rows`` (their validated
        values), and the values of the parameters they name; no terms when nothing can
        match. A term is a condition or a query of ids; ``json_lists`` (the dialect's name,
        ``sqlite`` or ``postgresql``; ``None`` on others) lets them take their lists from
        the database's JSON functions, one parameter each; ``keys``: the rows' match keys
        when the rule has ``keys`` (worked out once by the caller), else ``None``.
    :ivar reasons: ``reasons(values, candidate)`` - why ``candidate`` matches ``values``.
    :ivar keys: ``keys(values, candidate)`` - the match keys of input values (``candidate``
        false) or of a candidate row (``values`` ignored); ``reasons`` can only find a reason
        for a pair sharing a key, so a batch compares each row with those candidates alone
        instead of every candidate of the batch. ``None``: every pair is compared.
    :ivar shared_reasons: ``shared_reasons(values, candidate, keys)`` - what ``reasons``
        finds for a pair sharing ``keys`` (at least one), cheaper. ``None``: ``reasons``.
    :ivar found: ``found(values)`` - whether ``condition`` over a record's own values finds
        that record; a batch's records are paired among themselves in memory, and only those
        the look-up would have found. ``None``: every record that shares a key with another.
    """

    columns: tuple[str, ...]
    condition: Callable[
        [Any, Sequence[Mapping[str, Any]], str | None, Sequence[set[Any]] | None], Terms
    ]
    reasons: Callable[[Mapping[str, Any], Any], list[str]]
    keys: Callable[[Mapping[str, Any], Any], set[Any]] | None = None
    found: Callable[[Mapping[str, Any]], bool] | None = None
    shared_reasons: Callable[[Mapping[str, Any], Any, Sequence[Any]], list[str]] | None = None


def _phones(values: Mapping[str, Any]) -> set[str]:
    return {str(p) for p in (values.get("phone"), values.get("mobile")) if p}


def _contact_condition(
    entity: Any,
    rows: Sequence[Mapping[str, Any]],
    json_lists: str | None = None,
    keys: Sequence[set[Any]] | None = None,
) -> Terms:
    model = entity.model
    emails: set[str] = set()
    phones: set[str] = set()
    named: set[tuple[int, str]] = set()
    # the rows' match keys are what is looked up: one pass over the batch's distinct keys
    every = set().union(*(keys if keys is not None else map(_contact_keys, rows)))
    for key in every:
        kind = key[0]
        if kind == "email":
            emails.add(key[1])
        elif kind == "phone":
            phones.add(key[1])
        # an id no record can have (the reference check refuses it later) is never looked up:
        # PostgreSQL would fail the whole statement on an integer out of range
        elif type(key[1]) is int and 1 <= key[1] <= MAX_ID:
            named.add((key[1], key[2]))
    pairs = sorted(named)
    if json_lists:
        lists = {"emails": sorted(emails), "phones": sorted(phones), "pairs": pairs}
        shown = tuple(name for name, values in lists.items() if values)
        params = {f"duplicate_{name}": json_list(lists[name]) for name in shown}
        return _contact_json_terms(model, shown, json_lists), params
    parts: list[Term] = []
    if emails:
        parts.append(func.lower(model.email).in_(sorted(emails)))
    if phones:
        parts.append(model.phone.in_(sorted(phones)))
        parts.append(model.mobile.in_(sorted(phones)))
    if pairs:
        # the pairs themselves: every company's contacts with any of the batch's last names
        # would be most of the table at a million contacts; the company ids alone let an
        # index find them (no index takes the pair)
        parts.append(
            and_(
                model.company_id.in_(sorted({company for company, _last in pairs})),
                tuple_(model.company_id, func.lower(model.last_name)).in_(pairs),
            )
        )
    return parts, {}


@functools.lru_cache(maxsize=32)  # per model, dialect and which of its lists a batch has
def _contact_json_terms(model: Any, shown: tuple[str, ...], dialect: str) -> list[Term]:
    """The contact look-up's terms, built once: each a join from the elements of one JSON
    parameter (``duplicate_emails``, ``duplicate_phones``, ``duplicate_pairs``; SQLite's
    ``json_each``, PostgreSQL's ``jsonb_array_elements``), which the statement sends as is,
    rather than lists that SQLAlchemy expands into a parameter per value at every execution
    (~2,800 per import batch). Joins, because with ``IN (SELECT ...)`` the planner may walk
    the table by the range of ids left out instead of a column's index, and finds a company
    and last name by the company's part of the index alone, reading every contact of each
    company named. PostgreSQL, given the lists' values inline, filtered every contact with
    all of them: a batch's look-up took longer with each batch before it."""
    terms: list[Term] = []
    for name in shown:
        if name == "pairs" and dialect != "sqlite":
            param = bindparam(f"duplicate_{name}", type_=String)
            listed = func.jsonb_array_elements(cast(param, JSONB)).table_valued(
                column("value", JSONB)
            )
            value: Any = listed.c.value
            company, last = value[0].astext.cast(Integer), value[1].astext
        else:
            listed = json_values(f"duplicate_{name}", dialect)
            value = listed.c.value
            if name == "pairs":  # SQLite: each value is the pair's JSON text
                company, last = func.json_extract(value, "$[0]"), func.json_extract(value, "$[1]")
        if name == "emails":
            on = [func.lower(model.email) == value]
        elif name == "phones":
            on = [model.phone == value, model.mobile == value]
        else:
            on = [and_(model.company_id == company, func.lower(model.last_name) == last)]
        terms.extend(select(model.id).select_from(listed).join(model, c) for c in on)
    return terms


def _contact_reasons(values: Mapping[str, Any], other: Any) -> list[str]:
    reasons = []
    email = values.get("email")
    if email and other.email and str(email).lower() == other.email.lower():
        reasons.append("email")
    phones = _phones(values)  # non-empty texts: an empty or missing number is never in it
    if phones and (other.phone in phones or other.mobile in phones):
        reasons.append("phone")
    last = str(values.get("last_name") or "").strip().lower()
    if (
        last
        and values.get("company_id")
        and values.get("company_id") == other.company_id
        and last == (other.last_name or "").strip().lower()
        and first_names_match(values.get("first_name") or "", other.first_name or "")
    ):
        reasons.append("name")
    return reasons


def _contact_keys(values: Mapping[str, Any], other: Any = None) -> set[Any]:
    """What ``_contact_reasons`` compares: an e-mail, a phone, a company and last name."""
    keys: set[Any] = set()
    if other is not None:
        email, phone, mobile = other.email, other.phone, other.mobile
        company, last = other.company_id, other.last_name
    else:
        email, phone, mobile = values.get("email"), values.get("phone"), values.get("mobile")
        company, last = values.get("company_id"), str(values.get("last_name") or "")
        if not last.strip():
            company = None  # only a last name makes a name key of input values
    if email:
        keys.add(("email", str(email).lower()))
    if phone:
        keys.add(("phone", str(phone)))
    if mobile:
        keys.add(("phone", str(mobile)))
    if company:
        keys.add(("name", company, (last or "").strip().lower()))
    return keys


def _contact_shared_reasons(
    values: Mapping[str, Any], other: Any, keys: Sequence[Any]
) -> list[str]:
    """``_contact_reasons`` of a pair sharing ``keys``: a shared e-mail or phone key is that
    reason; a shared company and last name is one if the first names match too."""
    kinds = {key[0] for key in keys}
    reasons = [kind for kind in ("email", "phone") if kind in kinds]
    if "name" in kinds and first_names_match(
        values.get("first_name") or "", other.first_name or ""
    ):
        reasons.append("name")
    return reasons


def _company_condition(
    entity: Any,
    rows: Sequence[Mapping[str, Any]],
    json_lists: str | None = None,
    keys: Sequence[set[Any]] | None = None,
) -> Terms:
    model = entity.model
    domains = {d for d in (_domain(r) for r in rows) if d}
    prefixes = {p for p in (_prefix(r.get("name")) for r in rows) if p}
    parts: list[Term] = []
    if domains:
        parts.append(model.domain.in_(sorted(domains)))
    for prefix in sorted(prefixes):
        # a range on ``lower(name)``: the expression index serves it on SQLite and PostgreSQL
        lowered = func.lower(model.name)
        parts.append(and_(lowered >= prefix, lowered < prefix + "\uffff"))
    return parts, {}


def _company_found(values: Mapping[str, Any]) -> bool:
    # a name that starts with no word (``(Acme)``) has no prefix to be looked up by
    return bool(_domain(values) or _prefix(values.get("name")))


def _company_reasons(values: Mapping[str, Any], other: Any) -> list[str]:
    reasons = []
    domain = _domain(values)
    if domain and domain == _domain({"domain": other.domain, "website": other.website}):
        reasons.append("domain")
    mine, theirs = company_key(values.get("name")), company_key(other.name)
    if mine and mine == theirs:
        reasons.append("name")
    elif similar(mine, theirs):
        reasons.append("similar_name")
    return reasons


#: the duplicate rules by entity name; entities without a rule are never checked
RULES: dict[str, Rule] = {
    "contact": Rule(
        ("email", "phone", "mobile", "company_id", "first_name", "last_name"),
        _contact_condition,
        _contact_reasons,
        _contact_keys,
        shared_reasons=_contact_shared_reasons,
    ),
    "company": Rule(
        ("name", "domain", "website"),
        _company_condition,
        _company_reasons,
        found=_company_found,
    ),
}


# look-ups -----------------------------------------------------------------------------------


#: what ``Rule.keys`` is given with a candidate (which it then reads alone)
_NO_VALUES: Mapping[str, Any] = {}


def score(reasons: Iterable[str]) -> int:
    scores = sorted((SCORES[r] for r in reasons), reverse=True)
    return min(100, scores[0] + 5 * (len(scores) - 1)) if scores else 0


def candidates_for(
    service: RecordService,
    entity: Entity,
    rows: Sequence[Mapping[str, Any]],
    exclude: Callable[[int, int], bool] | None = None,
) -> list[list[Candidate]]:
    """The likely duplicates of each of ``rows`` (validated values), best first, among the
    records the user of ``service`` may read; one query for the whole batch.

    ``exclude(index, candidate_id)`` drops a candidate of the row at ``index``.
    """
    rule = RULES.get(entity.name)
    out: list[list[Candidate]] = [[] for _ in rows]
    if rule is None or not rows:
        return out
    keys = [rule.keys(values, None) for values in rows] if rule.keys is not None else None
    found = _look_up(service, entity, rule, rows, keys)
    if found:
        candidate_keys = [rule.keys(_NO_VALUES, other) for other in found] if rule.keys else None
        _match(entity, rule, rows, keys, found, candidate_keys, exclude, out)
    return [_best(matches) for matches in out]


def _look_up(
    service: RecordService,
    entity: Entity,
    rule: Rule,
    rows: Sequence[Mapping[str, Any]],
    keys: Sequence[set[Any]] | None,
    leave_out: Sequence[int] = (),
) -> list[Any]:
    """The rows (``id``, title fields, ``rule.columns``) of the readable records that may
    duplicate any of ``rows`` (``keys``: their match keys, when the rule has keys), but for
    the records of ids ``leave_out``: one query (two on PostgreSQL: the ids, then their
    rows)."""
    dialect = service.session.get_bind().dialect.name
    terms, params = rule.condition(
        entity, rows, dialect if dialect in ("sqlite", "postgresql") else None, keys
    )
    if not terms:
        return []
    model = entity.model
    outside = _outside(model.id, leave_out)
    if len(terms) <= UNION_TERMS:
        # with one condition of all the terms, SQLite walks the whole table by the scope's
        # ``deleted_at IS NULL`` index and PostgreSQL filters every record with all of them:
        # one look-up per term by its index; the ids left out are dropped inside each
        # look-up, from the index entry alone
        found = union_all(*(_ids(model, t).where(outside) for t in terms))
        if dialect != "postgresql":
            condition: ColumnElement[bool] = model.id.in_(found)
        else:
            # the ids first, then their rows: joined in one statement, PostgreSQL (taking a
            # table that grew since it was last analysed for a few rows) ran the look-ups
            # once per record of the table
            ids = sorted(set(service.session.scalars(found, params)))
            if not ids:
                return []
            condition, params = model.id == any_(literal(ids, ARRAY(Integer))), {}
    else:
        condition = and_(
            or_(*(model.id.in_(t) if isinstance(t, Select) else t for t in terms)), outside
        )
    try:
        stmt = service.query(entity, "read")
    except CRMError:  # the user may create but not read: nothing to point at
        return []
    names = dict.fromkeys(("id", *entity.title_fields, *rule.columns))
    stmt = (
        stmt.with_only_columns(*(getattr(model, n) for n in names))
        .where(condition)
        .order_by(model.id)
        .limit(PER_RECORD * len(rows))
    )
    # through the connection: the columns' rows as they come, without the ORM's row loading
    result = service.session.connection().execute(stmt, params)
    # plain named tuples: the rules read each candidate's columns by attribute many times,
    # and a named tuple's attribute costs a tenth of a ``Row``'s
    return list(map(_found_type(tuple(result.keys()))._make, result.all()))


def _ids(model: Any, term: Term) -> Select[Any]:
    """The query of the ids ``term`` finds."""
    return term if isinstance(term, Select) else select(model.id).where(term)


@functools.lru_cache(maxsize=64)  # one per entity's rule and title fields
def _found_type(names: tuple[str, ...]) -> Any:
    """The named tuple type of a look-up's rows."""
    return collections.namedtuple("Found", names)


def _outside(column: Any, ids: Sequence[int]) -> ColumnElement[bool]:
    """``column`` not one of ``ids``: a range when they are consecutive (a batch's new ids)."""
    if not ids:
        return true()
    low, high = min(ids), max(ids)
    # NOT BETWEEN rather than two ranges: SQLite ran each look-up twice for those (a
    # MULTI-INDEX OR, one search per range) where one search and a test of each entry's id do
    outside: ColumnElement[bool] = (
        ~column.between(low, high)
        if high - low + 1 == len(set(ids))
        else column.not_in(sorted(ids))
    )
    return outside


def _match(
    entity: Entity,
    rule: Rule,
    rows: Sequence[Mapping[str, Any]],
    keys: list[set[Any]] | None,
    candidates: Sequence[Any],
    candidate_keys: list[set[Any]] | None,
    exclude: Callable[[int, int], bool] | None,
    out: list[list[Candidate]],
) -> None:
    """Add to ``out[index]`` each of ``candidates`` that ``rows[index]`` matches: only those
    sharing a key with it (``keys[index]``, ``candidate_keys``) when the rule has keys."""
    by_key: dict[Any, list[int]] = {}
    if keys is not None and candidate_keys is not None:
        for position, found_keys in enumerate(candidate_keys):
            for key in found_keys:
                by_key.setdefault(key, []).append(position)
    present = by_key.keys()
    for index, values in enumerate(rows):
        if keys is None:
            compared: Iterable[tuple[Any, Sequence[Any]]] = ((c, ()) for c in candidates)
        else:
            row_keys = keys[index]
            if present.isdisjoint(row_keys):  # in C, over the row's few keys
                continue
            shared: dict[int, list[Any]] = {}
            for key in row_keys:
                for position in by_key.get(key, ()):
                    shared.setdefault(position, []).append(key)
            if not shared:
                continue
            compared = [(candidates[p], shared[p]) for p in sorted(shared)]
        for other, its_keys in compared:
            if exclude is not None and exclude(index, other.id):
                continue
            if its_keys and rule.shared_reasons is not None:
                reasons = rule.shared_reasons(values, other, its_keys)
            else:
                reasons = rule.reasons(values, other)
            if reasons:
                out[index].append(
                    Candidate(other.id, entity.display(other), score(reasons), tuple(reasons))
                )


def _best(matches: list[Candidate]) -> list[Candidate]:
    matches.sort(key=lambda c: (-c.score, c.id))
    return matches[:PER_RECORD]


def check_input(service: RecordService, entity: Entity, data: Mapping[str, Any]) -> list[Candidate]:
    """The likely duplicates of a record about to be created from untrusted ``data``.

    Input the schema refuses has none (the create will say what is wrong with it).
    """
    if entity.name not in RULES:
        return []
    try:
        values = entity.create_schema.load(dict(data))
    except (marshmallow.ValidationError, TypeError, ValueError):
        return []
    return candidates_for(service, entity, [values])[0]


def check_records(
    service: RecordService, entity: Entity, records: Sequence[Any]
) -> list[list[Candidate]]:
    """The likely duplicates of records just written (an import batch, flushed), one list per
    record: a pair within the batch is reported once, on the later record.

    The database is asked only about the records outside the batch; the pairs within it are
    found from the records themselves, among those the user may read.
    """
    rule = RULES.get(entity.name)
    out: list[list[Candidate]] = [[] for _ in records]
    if rule is None or not records:
        return out
    rows = _values(records, rule.columns)
    ids = loaded_ids(records)
    keys = [rule.keys(values, None) for values in rows] if rule.keys is not None else None
    found = _look_up(service, entity, rule, rows, keys, leave_out=ids)
    if found:
        candidate_keys = [rule.keys(_NO_VALUES, other) for other in found] if rule.keys else None
        _match(entity, rule, rows, keys, found, candidate_keys, None, out)
    readable = _readable(service, entity, ids)
    shared: set[Any] | None = None
    if keys is not None:
        # a record can match another of the batch only on a key that two records have
        seen: set[Any] = set()
        shared = set()
        for row_keys in keys:
            shared.update(row_keys & seen)
            seen.update(row_keys)
    mates = [
        (position, record)
        for position, record in enumerate(records)
        if ids[position] in readable
        and (shared is None or keys is None or not shared.isdisjoint(keys[position]))
        and (rule.found is None or rule.found(rows[position]))
    ]
    if mates:
        _match(
            entity,
            rule,
            rows,
            keys,
            [record for _position, record in mates],
            [keys[position] for position, _record in mates] if keys is not None else None,
            lambda index, other: other >= ids[index],
            out,
        )
    return [_best(matches) if matches else matches for matches in out]


def _values(records: Sequence[Any], names: Sequence[str]) -> list[Mapping[str, Any]]:
    """The values of ``names`` of each record: its dict itself when they are loaded there (as
    a new record's are; the rules only read the names they compare), else a dict of them
    read through the attributes (which may load them)."""
    wanted = frozenset(names)
    out: list[Mapping[str, Any]] = []
    for record in records:
        loaded = record.__dict__
        if loaded.keys() >= wanted:
            out.append(loaded)
        else:
            out.append({n: loaded[n] if n in loaded else getattr(record, n, None) for n in names})
    return out


def _readable(service: RecordService, entity: Entity, ids: Sequence[int]) -> set[int]:
    """Which of ``ids`` (records just written, so not in the trash) the user may read."""
    access = service.access
    if access.scope(entity, "read") == "all" and (entity.linked_to is None or access.is_system):
        return set(ids)
    try:
        stmt = service.query(entity, "read")
    except CRMError:
        return set()
    model = entity.model
    return set(
        service.session.scalars(
            stmt.with_only_columns(model.id).where(model.id.between(min(ids), max(ids)))
        )
    ) & set(ids)
