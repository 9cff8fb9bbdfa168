""" "Customers who bought X also bought Y": association rules between products, and the next
best offers of a customer.

A basket is everything one customer bought across the counted orders (see ``rfm``): the
distinct ``product_id`` of the order lines. For products X and Y, over the ``n`` customers
with a basket: ``support = both / n``, ``confidence = both / bought X`` and
``lift = confidence / (bought Y / n)`` (above 1: buying X makes Y more likely). Rules bought
together by fewer than ``MIN_CUSTOMERS`` customers are dropped, and each product keeps its
``KEEP`` best rules (by lift, then confidence). The job replaces the rules in bulk; the panels
read them, showing only products the reader may read.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from itertools import permutations
from typing import Any

from crmcore.db import utcnow
from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from .models import ProductRule
from .rfm import counted, orders_entity

MIN_CUSTOMERS = 2
KEEP = 20
#: a basket larger than this (a reseller buying the catalogue) says nothing about affinity
MAX_BASKET = 100
OFFERS = 5


def baskets(session: Session, model: Any) -> dict[int, set[int]]:
    """Per contact, the products of their counted orders."""
    out: dict[int, set[int]] = defaultdict(set)
    stmt = select(model.contact_id, model.lines).where(*counted(model))
    for contact_id, lines in session.execute(stmt.execution_options(yield_per=5000)):
        for line in lines or ():
            product = line.get("product_id") if isinstance(line, dict) else None
            if isinstance(product, int) and not isinstance(product, bool):
                out[contact_id].add(product)
    return out


def rules(groups: list[set[int]]) -> list[dict[str, Any]]:
    """The rules of a list of baskets, as ``insights_product_rule`` rows."""
    groups = [g for g in groups if g and len(g) <= MAX_BASKET]
    n = len(groups)
    single: Counter[int] = Counter()
    pairs: Counter[tuple[int, int]] = Counter()
    for basket in groups:
        single.update(basket)
        pairs.update(permutations(sorted(basket), 2))
    now = utcnow()
    by_product: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for (x, y), both in pairs.items():
        if both < MIN_CUSTOMERS:
            continue
        confidence = both / single[x]
        by_product[x].append(
            {
                "product_id": x,
                "other_id": y,
                "customers": both,
                "support": round(both / n, 6),
                "confidence": round(confidence, 6),
                "lift": round(confidence * n / single[y], 6),
                "computed_at": now,
            }
        )
    out: list[dict[str, Any]] = []
    for found in by_product.values():
        found.sort(key=lambda r: (-r["lift"], -r["confidence"], r["other_id"]))
        out += found[:KEEP]
    return out


def compute(crm: Any, session: Session) -> int:
    """Recompute and replace the rules (not committed); returns how many were stored."""
    entity = orders_entity(crm)
    rows = rules(list(baskets(session, entity.model).values())) if entity is not None else []
    session.execute(delete(ProductRule))
    if rows:
        session.execute(insert(ProductRule), rows)
    return len(rows)


@dataclass(frozen=True)
class Offer:
    """A product to offer, with the rule that suggests it."""

    product: Any
    confidence: float
    lift: float
    #: share of all customers with a basket who bought both products
    support: float


def _readable_products(records: Any, ids: set[int]) -> dict[int, Any]:
    products = records.entity("products")
    if not ids or not records.access.can(products, "read"):
        return {}
    stmt = records.query(products).where(products.model.id.in_(ids))
    return {p.id: p for p in records.session.scalars(stmt)}


def also_bought(records: Any, product_id: int, limit: int = 10) -> list[Offer]:
    """What buyers of ``product_id`` also bought, best lift first, among readable products."""
    stmt = (
        select(ProductRule)
        .where(ProductRule.product_id == product_id)
        .order_by(ProductRule.lift.desc(), ProductRule.confidence.desc(), ProductRule.other_id)
    )
    found = list(records.session.scalars(stmt))
    readable = _readable_products(records, {r.other_id for r in found})
    offers = [
        Offer(readable[r.other_id], r.confidence, r.lift, r.support)
        for r in found
        if r.other_id in readable
    ]
    return offers[:limit]


def owned_products(session: Session, model: Any, contact_id: int) -> set[int]:
    """Products the contact already bought (any counted order, whoever may read it)."""
    stmt = select(model.lines).where(*counted(model), model.contact_id == contact_id)
    owned: set[int] = set()
    for lines in session.scalars(stmt):
        owned |= {
            line["product_id"]
            for line in lines or ()
            if isinstance(line, dict) and isinstance(line.get("product_id"), int)
        }
    return owned


def next_best_offers(records: Any, contact_id: int, limit: int = OFFERS) -> list[Offer]:
    """Products to offer a contact: the best rules from what they bought to what they have
    not, among products the reader may read; each product once, with its strongest rule."""
    entity = orders_entity(records.crm)
    if entity is None:
        return []
    owned = owned_products(records.session, entity.model, contact_id)
    if not owned:
        return []
    best = (
        select(
            ProductRule.other_id,
            func.max(ProductRule.confidence).label("confidence"),
            func.max(ProductRule.lift).label("lift"),
            func.max(ProductRule.support).label("support"),
        )
        .where(ProductRule.product_id.in_(owned), ProductRule.other_id.not_in(owned))
        .group_by(ProductRule.other_id)
        .subquery()
    )
    stmt = select(best.c.other_id, best.c.confidence, best.c.lift, best.c.support).order_by(
        best.c.confidence.desc(), best.c.lift.desc(), best.c.other_id
    )
    found = list(records.session.execute(stmt))
    readable = _readable_products(records, {row[0] for row in found})
    offers = [Offer(readable[i], c, lift, sup) for i, c, lift, sup in found if i in readable]
    return offers[:limit]
