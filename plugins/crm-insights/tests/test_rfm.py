"""RFM scores, segments, lifetime value and cohorts over known orders, in the reader's scope."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from crmcore.testing.plugin import PASSWORD
from sqlalchemy import select

from crm_insights.analysis.cohorts import cohorts, months_between
from crm_insights.analysis.models import CustomerScore
from crm_insights.analysis.rfm import compute, quintile_scores, run, segment_of, sync_fields

TODAY = dt.date(2026, 6, 30)


def order(records: Any, contact: Any, day: str, amount: str, **fields: Any) -> Any:
    """A counted (paid) order of one line worth ``amount``, without tax."""
    line = {"description": "Item", "quantity": "1", "unit_price": amount, "tax_rate": "0"}
    data = {"contact_id": contact.id, "status": "paid", "order_date": day, "lines": [line],
            "currency": "EUR", **fields}  # fmt: skip
    return records.create("orders", data)


@pytest.fixture
def web_client(app: Any) -> Any:
    """``web_client(user)``: a test client signed in through the login form."""

    def make(user: Any) -> Any:
        client = app.test_client()
        page = client.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token
        response = client.post(
            "/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token[1]}
        )
        assert response.status_code == 303
        return client

    return make


@pytest.fixture
def five(records: Any, make_contact: Any, make_user: Any) -> dict[str, Any]:
    """Five customers with distinct recency, frequency and spend, and noise that must not count.

    ``a`` ordered most recently, most often and most; ``e`` least of all. ``a`` and ``b`` are
    owned by ``rep``, the others by ``other``.
    """
    rep, other = make_user("sales_rep"), make_user("sales_rep")
    people = {}
    plan = {  # name: (owner, [(date, amount), ...])
        "a": (rep, [("2026-06-25", "500"), ("2026-05-10", "500"), ("2026-04-01", "500"),
                    ("2026-03-01", "500"), ("2026-02-01", "500")]),
        "b": (rep, [("2026-06-01", "400"), ("2026-04-01", "400"), ("2026-03-01", "400"),
                    ("2026-02-01", "400")]),
        "c": (other, [("2026-05-01", "100"), ("2026-03-15", "100"), ("2026-02-15", "100")]),
        "d": (other, [("2026-03-01", "150"), ("2026-01-10", "150")]),
        "e": (other, [("2025-12-01", "50")]),
    }  # fmt: skip
    for name, (owner, orders) in plan.items():
        contact = make_contact(first_name=name.upper(), owner_id=owner.id)
        people[name] = contact
        for day, amount in orders:
            order(records, contact, day, amount, owner_id=owner.id)
    e = people["e"]
    order(records, e, "2026-06-29", "9999", status="draft")  # not a purchase yet
    order(records, e, "2026-06-29", "9999", status="cancelled")
    order(records, e, "2026-07-15", "9999")  # after "today"
    order(records, e, "2026-06-28", "9999", currency="USD")  # recency/frequency only
    trashed = order(records, e, "2026-06-29", "9999")
    records.delete("orders", trashed)
    return {"people": people, "rep": rep, "other": other}


def test_quintiles_rank_values_and_ties_score_alike() -> None:
    assert quintile_scores([10, 20, 30, 40, 50]) == [1, 2, 3, 4, 5]
    assert quintile_scores([50, 10, 40, 20, 30]) == [5, 1, 4, 2, 3]
    assert quintile_scores(list(range(1, 11))) == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert quintile_scores([5, 5, 5, 1]) == [2, 2, 2, 1]
    assert quintile_scores([7]) == [1]


@pytest.mark.parametrize(
    ("r", "f", "m", "orders", "segment"),
    [
        (5, 5, 5, 9, "champions"),
        (4, 4, 4, 5, "champions"),
        (5, 1, 3, 1, "new"),
        (4, 3, 3, 3, "loyal"),
        (4, 2, 2, 2, "promising"),
        (3, 3, 4, 3, "loyal"),
        (3, 2, 2, 2, "need_attention"),
        (2, 4, 4, 6, "at_risk"),
        (1, 3, 3, 4, "at_risk"),
        (2, 1, 2, 1, "hibernating"),
        (1, 1, 1, 1, "lost"),
    ],
)
def test_segments(r: int, f: int, m: int, orders: int, segment: str) -> None:
    assert segment_of(r, f, m, orders) == segment


@pytest.mark.crm_plugins("sales", "insights")
def test_scores_from_known_orders(crm: Any, session: Any, five: dict[str, Any]) -> None:
    assert run(crm, session, TODAY) == 5
    rows = {row.contact_id: row for row in session.scalars(select(CustomerScore))}
    got = {n: (rows[c.id].score, rows[c.id].segment) for n, c in five["people"].items()}
    # last orders: d 03-01 < c 05-01 < b 06-01 < a 06-25 < e 06-28 (its USD order);
    # orders: a 5, b 4, c 3, d 2, e 2; EUR spent: a 2500, b 1600, c 300, d 300, e 50
    assert got == {
        "a": ("455", "champions"),
        "b": ("344", "loyal"),
        "c": ("232", "hibernating"),
        "d": ("112", "lost"),
        "e": ("511", "promising"),
    }


@pytest.mark.crm_plugins("sales", "insights")
def test_figures_and_fields(crm: Any, session: Any, five: dict[str, Any]) -> None:
    run(crm, session, TODAY)
    people = five["people"]
    rows = {row.contact_id: row for row in session.scalars(select(CustomerScore))}
    a, e = rows[people["a"].id], rows[people["e"].id]
    assert (a.orders, a.monetary, a.currency, a.recency_days) == (5, Decimal("2500.00"), "EUR", 5)
    assert a.first_order_on == dt.date(2026, 2, 1) and a.average_order == Decimal("500.00")
    # draft, cancelled, future and trashed orders do not count; the USD one counts but not in M
    assert (e.orders, e.monetary, e.recency_days) == (2, Decimal("50.00"), 2)
    contact = session.get(type(people["a"]), people["a"].id)
    session.refresh(contact)
    assert contact.custom_fields["lifetime_value"] == 2500
    assert contact.custom_fields["rfm_score"] == f"{a.r}{a.f}{a.m}"
    assert contact.custom_fields["rfm_segment"] == a.segment


@pytest.mark.crm_plugins("sales", "insights")
def test_fields_written_once_and_filterable(
    crm: Any, session: Any, api_as: Any, admin: Any, five: dict[str, Any]
) -> None:
    previous = list(session.scalars(select(CustomerScore.contact_id)))
    compute(crm, session, TODAY)
    session.commit()
    assert sync_fields(crm, session, previous) == 5
    assert sync_fields(crm, session, previous) == 0  # nothing changed: no write, no audit
    api = api_as(admin)
    found = api.get("/api/v1/contacts?custom.rfm_segment=champions").get_json()["data"]
    assert [c["id"] for c in found] == [five["people"]["a"].id]
    found = api.get("/api/v1/contacts?custom.lifetime_value__gte=1000&sort=id").get_json()["data"]
    assert [c["id"] for c in found] == [five["people"]["a"].id, five["people"]["b"].id]
    bad = api.get("/api/v1/contacts?custom.rfm_segment__gt=x")
    assert bad.status_code == 400


@pytest.mark.crm_plugins("sales", "insights", "marketing")
def test_segments_and_values_make_marketing_segments(
    crm: Any, session: Any, records: Any, api_as: Any, admin: Any, five: dict[str, Any]
) -> None:
    """A marketing segment on the stored RFM fields has the customers the scores name, follows
    the next nightly run, and a misspelt segment field is refused when the segment is saved."""
    run(crm, session, TODAY)
    api, people = api_as(admin), five["people"]

    def segment(query: str) -> str:
        created = api.post("/api/v1/segments", json={"name": query, "query": query})
        assert created.status_code == 201, created.get_json()
        return f"/api/v1/segments/{created.get_json()['id']}/members?sort=id"

    def members(url: str) -> list[int]:
        return [c["id"] for c in api.get(url).get_json()["data"]]

    assert members(segment("custom.rfm_segment=champions")) == [people["a"].id]
    big = segment("custom.lifetime_value__gte=1000")
    assert members(big) == [people["a"].id, people["b"].id]
    stored = session.scalars(
        select(CustomerScore.contact_id)
        .where(CustomerScore.segment.in_(("lost", "promising")))
        .order_by(CustomerScore.contact_id)
    ).all()
    assert len(stored) == 2
    assert members(segment("custom.rfm_segment__in=lost,promising")) == list(stored)
    orders = records.entity("orders").model
    for o in session.scalars(select(orders).where(orders.contact_id == people["b"].id)).all():
        records.update("orders", o, {"status": "cancelled"})
    run(crm, session, TODAY)
    assert members(big) == [people["a"].id]
    refused = api.post("/api/v1/segments", json={"name": "x", "query": "custom.rfm_segmnt=lost"})
    assert refused.status_code == 422
    assert "rfm_segmnt" in str(refused.get_json())


@pytest.mark.crm_plugins("sales", "insights")
def test_customer_without_orders_left_loses_score(
    crm: Any, session: Any, records: Any, five: dict[str, Any]
) -> None:
    run(crm, session, TODAY)
    d = five["people"]["d"]
    for o in session.scalars(select(records.entity("orders").model).where(
            records.entity("orders").model.contact_id == d.id)).all():  # fmt: skip
        records.update("orders", o, {"status": "cancelled"})
    assert run(crm, session, TODAY) == 4
    records.delete("contacts", five["people"]["c"])  # a trashed customer is not scored
    assert run(crm, session, TODAY) == 3
    assert session.get(CustomerScore, five["people"]["c"].id) is None
    contact = session.get(type(d), d.id)
    session.refresh(contact)
    assert contact.custom_fields.get("rfm_segment") is None
    assert session.get(CustomerScore, d.id) is None


@pytest.mark.crm_plugins("sales", "insights")
def test_cohorts_exact_and_scoped(crm: Any, five: dict[str, Any]) -> None:
    assert months_between("2025-12", "2026-02") == 2
    table = cohorts(crm.records(), 12)
    assert [(c.month, c.customers, c.active) for c in table] == [
        ("2025-12", 1, [1, 0, 0, 0, 0, 0, 1, 1]),
        ("2026-01", 1, [1, 0, 1, 0, 0, 0, 0]),
        ("2026-02", 3, [3, 3, 2, 2, 2, 0]),
    ]
    assert table[2].rates()[:3] == [100.0, 100.0, 66.7]
    from crmcore.permissions import Access

    rep = crm.records(Access.for_user(five["rep"]))
    assert [(c.month, c.customers, c.active) for c in cohorts(rep, 12)] == [
        ("2026-02", 2, [2, 2, 2, 1, 2]),
    ]
    assert [c.month for c in cohorts(crm.records(), 2)] == ["2026-01", "2026-02"]


@pytest.mark.crm_plugins("sales", "insights")
def test_pages_in_scope(
    crm: Any, session: Any, web_client: Any, admin: Any, five: dict[str, Any]
) -> None:
    run(crm, session, TODAY)
    rep = web_client(five["rep"])
    page = rep.get("/insights/customers/").get_data(as_text=True)
    counts = dict(re.findall(r"rfm_segment=(\w+)\">[^<]*</a></td><td class=\"num\">(\d+)", page))
    assert counts["champions"] == "1" and counts["loyal"] == "1" and counts["lost"] == "0"
    page = web_client(admin).get("/insights/customers/").get_data(as_text=True)
    counts = dict(re.findall(r"rfm_segment=(\w+)\">[^<]*</a></td><td class=\"num\">(\d+)", page))
    assert counts["lost"] == "1" and counts["promising"] == "1"
    cohort = rep.get("/insights/customers/cohorts")
    assert cohort.status_code == 200
    assert "2026-02" in (text := cohort.get_data(as_text=True)) and "2025-12" not in text
    panel = rep.get(f"/contacts/{five['people']['a'].id}").get_data(as_text=True)
    assert "2.500" in panel or "2,500" in panel
    assert rep.get(f"/contacts/{five['people']['c'].id}").status_code == 404


@pytest.mark.crm_plugins("sales", "insights")
@pytest.mark.parametrize("months", ["abc", "0", "37", "-1", "1e3", "١٢"])
def test_cohort_months_refused(web_client: Any, admin: Any, months: str) -> None:
    response = web_client(admin).get(f"/insights/customers/cohorts?months={months}")
    assert response.status_code == 422
    assert "Enter a number from 1 to 36." in response.get_data(as_text=True)


@pytest.mark.crm_plugins("insights")
def test_without_sales(crm: Any, session: Any, web_client: Any, admin: Any,
                       make_contact: Any) -> None:  # fmt: skip
    contact = make_contact()
    assert run(crm, session, TODAY) == 0
    client = web_client(admin)
    assert "needs the Sales plugin" in client.get("/insights/customers/").get_data(as_text=True)
    assert client.get("/insights/customers/cohorts").status_code == 200
    page = client.get(f"/contacts/{contact.id}")
    assert page.status_code == 200 and "Customer value" not in page.get_data(as_text=True)


class _Texts(HTMLParser):
    """The text nodes of a page, outside scripts and styles."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: set[str] = set()

    def handle_data(self, data: str) -> None:
        if data.strip():
            self.texts.add(data.strip())


def _english(app: Any) -> set[str]:
    """Message ids of the plugin's catalogue whose Spanish differs from the English."""
    from babel.messages.mofile import read_mo

    import crm_insights

    mo = Path(crm_insights.__file__).parent / "translations/es/LC_MESSAGES/messages.mo"
    with mo.open("rb") as fh:
        return {m.id for m in read_mo(fh) if isinstance(m.id, str) and m.id and m.string != m.id}


@pytest.mark.crm_plugins("sales", "insights")
def test_pages_in_spanish(
    app: Any, crm: Any, session: Any, web_client: Any, make_user: Any, five: dict[str, Any]
) -> None:
    run(crm, session, TODAY)
    client = web_client(make_user("admin", locale="es"))
    english = _english(app)
    for url in (
        "/insights/customers/",
        "/insights/customers/cohorts",
        "/insights/customers/cohorts?months=x",
        f"/contacts/{five['people']['a'].id}",
    ):
        parser = _Texts()
        parser.feed(client.get(url).get_data(as_text=True))
        assert not parser.texts & english, (url, parser.texts & english)
    page = client.get("/insights/customers/").get_data(as_text=True)
    assert "Segmentos de clientes" in page and "Campeones" in page
    panel = client.get(f"/contacts/{five['people']['a'].id}").get_data(as_text=True)
    assert "Valor de vida" in panel and "Campeones" in panel


@pytest.mark.crm_plugins("sales", "insights")
def test_nightly_job_scores_customers(app: Any, crm: Any, five: dict[str, Any]) -> None:
    from crm_insights.analysis.jobs import periodic_jobs

    jobs = {j.name: j for j in periodic_jobs()}
    assert set(jobs) == {
        "score_customers",
        "product_rules",
        "call_hours",
        "train_models",
        "warm_cohorts",
    }
    assert jobs["score_customers"].schedule == {"minute": "30", "hour": "2"}
    for job in jobs.values():
        job.run(app)
    assert len(crm.session.scalars(select(CustomerScore)).all()) == 5
