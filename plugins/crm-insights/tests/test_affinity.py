"""Association rules between products (support, confidence, lift) and next best offers."""

from __future__ import annotations

from typing import Any

import pytest
from crmcore.permissions import Access
from sqlalchemy import select

from crm_insights.analysis.affinity import (
    MAX_BASKET,
    also_bought,
    compute,
    next_best_offers,
    rules,
)
from crm_insights.analysis.models import ProductRule

#: customer -> products bought (letters); the draft order of "f" must not count
BASKETS = {"c1": "AB", "c2": "ABC", "c3": "AC", "c4": "B", "c5": "AB"}


def rule_tuples(rows: list[dict[str, Any]]) -> set[tuple[Any, ...]]:
    return {
        (r["product_id"], r["other_id"], r["customers"], r["support"], r["confidence"], r["lift"])
        for r in rows
    }


def test_rules_exact() -> None:
    groups = [set(b) for b in BASKETS.values()]
    assert rule_tuples(rules(groups)) == {  # type: ignore[arg-type]
        ("A", "B", 3, 0.6, 0.75, 0.9375),
        ("B", "A", 3, 0.6, 0.75, 0.9375),
        ("A", "C", 2, 0.4, 0.5, 1.25),
        ("C", "A", 2, 0.4, 1.0, 1.25),
    }  # B and C bought together by one customer only: no rule


def test_rules_edge_cases() -> None:
    assert rules([]) == []
    assert rules([set(), {1}]) == []
    huge = set(range(MAX_BASKET + 1))
    assert rules([huge, huge]) == []  # a whole-catalogue basket is left out


@pytest.fixture
def shop(records: Any, make_contact: Any, make_user: Any) -> dict[str, Any]:
    """Products A-D and the customers of ``BASKETS``, one paid order each (owned by a rep)."""
    rep = make_user("sales_rep")
    products = {
        letter: records.create(
            "products", {"sku": f"SKU-{letter}", "name": f"Product {letter}", "prices": {}}
        )
        for letter in "ABCD"
    }
    people = {}
    for name, letters in [*BASKETS.items(), ("f", "")]:
        contact = make_contact(first_name=name, owner_id=rep.id)
        people[name] = contact
        lines = [
            {"product_id": products[x].id, "quantity": "1", "unit_price": "10", "tax_rate": "0"}
            for x in letters
        ]
        if lines:
            records.create(
                "orders",
                {"contact_id": contact.id, "status": "paid", "order_date": "2026-05-01",
                 "currency": "EUR", "lines": lines, "owner_id": rep.id},
            )  # fmt: skip
    draft = [
        {"product_id": products[x].id, "quantity": "1", "unit_price": "10", "tax_rate": "0"}
        for x in "BC"
    ]
    records.create(
        "orders",
        {"contact_id": people["f"].id, "status": "draft", "order_date": "2026-05-01",
         "currency": "EUR", "lines": draft, "owner_id": rep.id},
    )  # fmt: skip
    return {"products": products, "people": people, "rep": rep}


def _names(offers: list[Any]) -> list[str]:
    return [o.product.name[-1] for o in offers]


@pytest.mark.crm_plugins("sales", "insights")
def test_rules_stored_and_offers(crm: Any, session: Any, shop: dict[str, Any]) -> None:
    assert compute(crm, session) == 4
    ids = {p.id: letter for letter, p in shop["products"].items()}
    stored = {
        (ids[r.product_id], ids[r.other_id], r.customers, r.support, r.confidence, r.lift)
        for r in session.scalars(select(ProductRule))
    }
    assert stored == {
        ("A", "B", 3, 0.6, 0.75, 0.9375),
        ("B", "A", 3, 0.6, 0.75, 0.9375),
        ("A", "C", 2, 0.4, 0.5, 1.25),
        ("C", "A", 2, 0.4, 1.0, 1.25),
    }
    records = crm.records()
    people = shop["people"]
    assert _names(next_best_offers(records, people["c4"].id)) == ["A"]
    assert _names(next_best_offers(records, people["c1"].id)) == ["C"]
    assert _names(next_best_offers(records, people["c3"].id)) == ["B"]
    assert next_best_offers(records, people["c2"].id) == []  # has everything suggested
    assert next_best_offers(records, people["f"].id) == []  # nothing bought yet (a draft)
    assert _names(also_bought(records, shop["products"]["A"].id)) == ["C", "B"]
    assert also_bought(records, shop["products"]["D"].id) == []
    records.delete("products", shop["products"]["C"])  # a trashed product is not offered
    assert next_best_offers(records, people["c1"].id) == []
    assert _names(also_bought(records, shop["products"]["A"].id)) == ["B"]


@pytest.mark.crm_plugins("sales", "insights")
def test_panels_in_scope(
    web_as: Any, app: Any, crm: Any, session: Any, make_user: Any, shop: dict[str, Any]
) -> None:
    compute(crm, session)
    session.commit()
    people, products = shop["people"], shop["products"]
    rep = web_as(shop["rep"])
    page = rep.get(f"/contacts/{people['c4'].id}").get_data(as_text=True)
    assert "Next best offers" in page
    assert f"<a href='/products/{products['A'].id}'>Product A</a>" in page
    assert "75 %" in page or "75%" in page  # confidence of B -> A
    assert "60 %" in page or "60%" in page  # its support: 3 of the 5 customers
    page = rep.get(f"/products/{products['A'].id}").get_data(as_text=True)
    assert "Customers who bought this also bought" in page and "1.25" in page
    assert "<th scope='col' class='num'>Support</th>" in page
    assert "40 %" in page or "40%" in page  # support of A -> C
    # another rep may not open these contacts at all
    other = web_as(make_user("sales_rep"))
    assert other.get(f"/contacts/{people['c4'].id}").status_code == 404
    # a support agent reads contacts but not products: no offers panel
    agent = web_as(make_user("support_agent"))
    page = agent.get(f"/contacts/{people['c4'].id}")
    assert page.status_code == 200 and "Next best offers" not in page.get_data(as_text=True)
    assert next_best_offers(crm.records(Access.for_user(shop["rep"])), people["c4"].id)


@pytest.mark.crm_plugins("sales", "insights")
def test_hostile_product_names_escaped(
    web_as: Any, app: Any, crm: Any, session: Any, records: Any, shop: dict[str, Any]
) -> None:
    records.update("products", shop["products"]["A"], {"name": "<script>alert(1)</script>"})
    compute(crm, session)
    session.commit()
    page = web_as(shop["rep"]).get(f"/contacts/{shop['people']['c4'].id}")
    text = page.get_data(as_text=True)
    assert "<script>alert(1)" not in text and "&lt;script&gt;alert(1)" in text


@pytest.mark.crm_plugins("sales", "insights")
def test_bad_lines_ignored(crm: Any, session: Any, records: Any, shop: dict[str, Any]) -> None:
    model = records.entity("orders").model
    order = session.scalars(select(model).limit(1)).one()
    # lines written by an older version or by hand: not dicts, text ids, booleans
    session.execute(
        model.__table__.update()
        .where(model.id == order.id)
        .values(lines=["x", {"product_id": "1"}, {"product_id": True}, None])
    )
    assert compute(crm, session) >= 0  # no error


@pytest.mark.crm_plugins("insights")
def test_without_sales(crm: Any, session: Any, make_contact: Any) -> None:
    assert compute(crm, session) == 0
    assert next_best_offers(crm.records(), make_contact().id) == []


@pytest.mark.crm_plugins("sales", "insights")
def test_panels_in_spanish(
    web_as: Any, app: Any, crm: Any, session: Any, make_user: Any, shop: dict[str, Any]
) -> None:
    compute(crm, session)
    session.commit()
    client = web_as(make_user("admin", locale="es"))
    page = client.get(f"/contacts/{shop['people']['c4'].id}").get_data(as_text=True)
    assert "Próximas mejores ofertas" in page and "Elevación" in page and "Confianza" in page
    assert ">Soporte<" in page
    assert "Next best offers" not in page and ">Lift<" not in page and ">Support<" not in page
    page = client.get(f"/products/{shop['products']['A'].id}").get_data(as_text=True)
    assert "Los clientes que compraron esto también compraron" in page
