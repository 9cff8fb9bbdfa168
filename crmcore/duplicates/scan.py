"""The duplicate scan: every likely duplicate pair of an entity, found in bulk and stored.

The rules are those of the create-time check (``matching``); instead of one look-up per record,
each rule is one grouping query - the database returns only the rows that share a key with
another row (``GROUP BY ... HAVING count(*) > 1``), so a million contacts with a few thousand
duplicates move a few thousand rows to Python. Company names are compared after folding
(accents, legal forms), which SQL cannot do portably: they are read once and grouped here.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import combinations, groupby
from typing import Any

from sqlalchemy import Select, and_, delete, func, insert, select, union_all
from sqlalchemy.orm import Session

from ..db import utcnow
from .matching import RULES, company_key, first_names_match, fold, score, similar
from .models import DuplicatePair

log = logging.getLogger(__name__)

#: a key shared by more records than this (a switchboard number, info@) pairs each of them with
#: the oldest only, so one key cannot make millions of pairs
MAX_GROUP = 50
#: companies whose folded names start with the same word are compared for similarity when
#: there are at most this many of them
MAX_BLOCK = 30
_CHUNK = 5000

Pairs = dict[tuple[int, int], set[str]]


@dataclass
class ScanResult:
    """What a scan found: ``pairs`` stored for ``entity`` in ``seconds``."""

    entity: str
    pairs: int
    seconds: float


def scan(crm: Any, entity_name: str, session: Session | None = None) -> ScanResult:
    """Find every likely duplicate pair of ``entity_name`` (``contact`` or ``company``) and
    replace the stored pairs of that entity with them, in one transaction."""
    if entity_name not in RULES:
        raise ValueError(f"no duplicate rules for {entity_name!r}")
    entity = crm.registry.get(entity_name)
    session = session or crm.session
    started = time.perf_counter()
    finder = _contact_pairs if entity.name == "contact" else _company_pairs
    pairs = finder(session, entity.model)
    now = utcnow()
    session.execute(delete(DuplicatePair).where(DuplicatePair.entity == entity.name))
    rows = (
        {
            "entity": entity.name,
            "record_a": a,
            "record_b": b,
            "score": score(reasons),
            "reasons": sorted(reasons),
            "found_at": now,
        }
        for (a, b), reasons in pairs.items()
    )
    for chunk in _chunks(rows, _CHUNK):
        session.execute(insert(DuplicatePair), chunk)
    session.commit()
    result = ScanResult(entity.name, len(pairs), time.perf_counter() - started)
    log.info("duplicate scan of %s: %d pairs in %.1fs", entity.name, result.pairs, result.seconds)
    return result


def scan_all(app: Any) -> None:
    """The periodic job: scan contacts and companies."""
    crm = app.extensions["crm"]
    for name in RULES:
        scan(crm, name)


def scan_job(app: Any, entity_name: str) -> None:
    """The job queued by "Find duplicates now" (``POST /api/v1/<plural>/duplicates/scan``)."""
    scan(app.extensions["crm"], entity_name)


# grouping -----------------------------------------------------------------------------------


def _chunks(rows: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _shared(
    session: Session, keyed: Any, keys: tuple[str, ...] = ("k",)
) -> Iterator[tuple[Any, list[Any]]]:
    """Groups of rows of the subquery ``keyed`` (key columns ``keys``, then ``id``...) that
    share their key with another row."""
    columns = [keyed.c[k] for k in keys]
    repeated = select(*columns).group_by(*columns).having(func.count() > 1).subquery()
    stmt: Select[Any] = (
        select(keyed)
        .join(repeated, and_(*(keyed.c[k] == repeated.c[k] for k in keys)))
        .order_by(*columns, keyed.c.id)
    )
    rows = session.execute(stmt.execution_options(yield_per=10_000))
    for key, group in groupby(rows, key=lambda r: tuple(r._mapping[k] for k in keys)):
        yield key, list(group)


def _pair_up(ids: list[int], reason: str, pairs: Pairs) -> None:
    ids = sorted(set(ids))
    if len(ids) > MAX_GROUP:
        for other in ids[1:]:
            pairs[(ids[0], other)].add(reason)
        return
    for a, b in combinations(ids, 2):
        pairs[(a, b)].add(reason)


def _contact_pairs(session: Session, model: Any) -> Pairs:
    pairs: Pairs = defaultdict(set)
    live = model.deleted_at.is_(None)
    emails = (
        select(func.lower(model.email).label("k"), model.id)
        .where(live, model.email.is_not(None))
        .subquery()
    )
    for _key, group in _shared(session, emails):
        _pair_up([row.id for row in group], "email", pairs)
    phones = union_all(
        select(model.phone.label("k"), model.id).where(live, model.phone.is_not(None)),
        select(model.mobile.label("k"), model.id).where(live, model.mobile.is_not(None)),
    ).subquery()
    for _key, group in _shared(session, phones):
        _pair_up([row.id for row in group], "phone", pairs)
    # the same last name at the same company (folded here: SQLite's lower() is ASCII-only);
    # the first names decide
    named = model.company_id.is_not(None), model.last_name != ""
    crowded = select(model.company_id).where(live, *named).group_by(model.company_id)
    rows = session.execute(
        select(model.company_id, model.id, model.first_name, model.last_name)
        .where(live, *named, model.company_id.in_(crowded.having(func.count() > 1)))
        .order_by(model.company_id, model.id)
        .execution_options(yield_per=10_000)
    )
    for _company, people in groupby(rows, key=lambda r: r.company_id):
        by_last: dict[str, list[Any]] = defaultdict(list)
        for person in people:
            by_last[fold(person.last_name)].append(person)
        for same in by_last.values():
            for a, b in combinations(same[:MAX_GROUP], 2):
                if first_names_match(a.first_name or "", b.first_name or ""):
                    pairs[(min(a.id, b.id), max(a.id, b.id))].add("name")
    return pairs


def _company_pairs(session: Session, model: Any) -> Pairs:
    pairs: Pairs = defaultdict(set)
    live = model.deleted_at.is_(None)
    domains = (
        select(func.lower(model.domain).label("k"), model.id)
        .where(live, model.domain.is_not(None))
        .subquery()
    )
    for _key, group in _shared(session, domains):
        _pair_up([row.id for row in group], "domain", pairs)
    by_key: dict[str, list[int]] = defaultdict(list)
    rows = session.execute(
        select(model.id, model.name).where(live).execution_options(yield_per=10_000)
    )
    for record_id, name in rows:
        key = company_key(name)
        if key:
            by_key[key].append(record_id)
    blocks: dict[str, list[str]] = defaultdict(list)
    for key, ids in by_key.items():
        if len(ids) > 1:
            _pair_up(ids, "name", pairs)
        blocks[key.split(" ", 1)[0]].append(key)
    for keys in blocks.values():
        if not 1 < len(keys) <= MAX_BLOCK:
            continue
        for key_a, key_b in combinations(keys, 2):
            if similar(key_a, key_b):
                for a in by_key[key_a]:
                    for b in by_key[key_b]:
                        pairs[(min(a, b), max(a, b))].add("similar_name")
    return pairs
