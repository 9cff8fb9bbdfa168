"""The loyalty plugin, tested from its own directory as an outside author would:
``cd examples/crm-loyalty && pytest``."""

from __future__ import annotations

from decimal import Decimal
from importlib.metadata import entry_points
from types import SimpleNamespace

import pytest
from crm_loyalty import ledger

from crmcore.testing import assert_plugin_migrates_and_survives_disable

pytestmark = pytest.mark.crm_plugins("loyalty")

SALES_INSTALLED = any(ep.name == "sales" for ep in entry_points(group="crmcore.plugins"))

#: the integration with crm-sales, which is optional
needs_sales = pytest.mark.skipif(
    not SALES_INSTALLED,
    reason="crm-sales is not installed (pip install crm-sales, or -e plugins/crm-sales, "
    "to test awarding points for paid orders)",
)

URL = "/api/v1/loyalty_entries"


def test_award_and_redeem_through_the_api(api, make_contact):
    contact = make_contact()
    r = api.post(URL, json={"contact_id": contact.id, "points": 50, "reason": "Welcome"})
    assert r.status_code == 201, r.get_json()
    r = api.post(URL, json={"contact_id": contact.id, "points": -20, "reason": "Mug"})
    assert r.status_code == 201, r.get_json()
    listed = api.get(f"{URL}?contact_id={contact.id}").get_json()["data"]
    assert sorted(e["points"] for e in listed) == [-20, 50]


def test_redemption_cannot_overdraw(api, make_contact):
    contact = make_contact()
    api.post(URL, json={"contact_id": contact.id, "points": 10, "reason": "Welcome"})
    r = api.post(URL, json={"contact_id": contact.id, "points": -11, "reason": "Too much"})
    assert r.status_code == 422
    assert "10 points" in r.get_json()["errors"]["points"][0]


def test_zero_points_are_refused(api, make_contact):
    r = api.post(URL, json={"contact_id": make_contact().id, "points": 0, "reason": "Nothing"})
    assert r.status_code == 422 and "points" in r.get_json()["errors"]


def test_sales_reps_read_but_do_not_write(make_user, make_contact, api_as):
    rep = api_as(make_user("sales_rep"))
    assert rep.get(URL).status_code == 200
    r = rep.post(URL, json={"contact_id": make_contact().id, "points": 5, "reason": "Gift"})
    assert r.status_code == 403


def test_contact_panel_shows_the_balance_escaped(api, records, make_contact):
    contact = make_contact()
    records.create(
        ledger.PLURAL, {"contact_id": contact.id, "points": 30, "reason": "<script>x</script>"}
    )
    records.create(ledger.PLURAL, {"contact_id": contact.id, "points": 12, "reason": "Order"})
    panels = api.get(f"/api/v1/contacts/{contact.id}/panels").get_json()
    (panel,) = [p for p in panels if p["name"] == "loyalty_balance"]
    assert "<strong>42</strong> points" in panel["html"]
    assert "&lt;script&gt;x&lt;/script&gt;" in panel["html"]
    assert "<script>" not in panel["html"]


def test_dashboard_widget_ranks_contacts_in_the_users_scope(
    make_user, make_contact, records, api_as
):
    rep = make_user("sales_rep")
    records.update("roles", rep.role, {"grants": {**rep.role.grants, "contacts": {"read": "own"}}})
    mine = make_contact(first_name="Ann", last_name="Mine", owner_id=rep.id)
    other = make_contact(first_name="Olga", last_name="Other")
    low = make_contact(first_name="Lou", last_name="Low", owner_id=rep.id)
    for contact, points in ((mine, 70), (other, 900), (low, 5)):
        records.create(ledger.PLURAL, {"contact_id": contact.id, "points": points, "reason": "x"})
    widgets = api_as(rep).get("/api/v1/dashboard").get_json()
    (widget,) = [w for w in widgets if w["name"] == "loyalty_top"]
    assert widget["data"]["top contacts"] == [
        {"contact": "Ann Mine", "points": 70},
        {"contact": "Lou Low", "points": 5},
    ]


@pytest.mark.parametrize(
    ("total", "rate", "points"),
    [("120.99", 1, 120), ("0.50", 1, 0), ("10", 2, 20), ("10", "0.5", 5), ("-3", 1, 0)],
)
def test_points_for_a_total(total, rate, points):
    assert ledger.points_for(Decimal(total), Decimal(str(rate))) == points


def _order_event(records, contact, *, status="paid", changes=None, action="update", oid=7):
    order = SimpleNamespace(
        id=oid, contact_id=contact.id, status=status, total=Decimal("99.90"), currency="EUR"
    )
    return SimpleNamespace(
        entity=SimpleNamespace(name="order"),
        record=order,
        action=action,
        changes={"status": ("confirmed", status)} if changes is None else changes,
        records=records,
    )


def _balance(records, contact):
    return ledger.balance(records.session, contact.id)


def test_no_points_without_sales_enabled(records, make_contact):
    contact = make_contact()
    assert "sales" not in records.crm.enabled_plugins()
    assert ledger.award_for_order(_order_event(records, contact)) is None
    assert _balance(records, contact) == 0


def test_award_logic_when_sales_is_enabled(records, make_contact, monkeypatch):
    """The hook's rules, with a stand-in order (the real one is tested below)."""
    crm = records.crm
    enabled = crm.enabled_plugins()
    monkeypatch.setattr(crm, "enabled_plugins", lambda: enabled | {"sales"})
    contact = make_contact()
    entry = ledger.award_for_order(_order_event(records, contact))
    assert (entry.points, entry.order_id) == (99, 7)
    assert "Order 7 paid (99.90 EUR)" == entry.reason
    # once per order, even if it is paid again
    assert ledger.award_for_order(_order_event(records, contact)) is None
    # other statuses, other fields changing, other entities: nothing
    assert ledger.award_for_order(_order_event(records, contact, status="sent", oid=8)) is None
    assert ledger.award_for_order(_order_event(records, contact, changes={}, oid=9)) is None
    event = _order_event(records, contact, oid=10)
    event.entity.name = "deal"
    assert ledger.award_for_order(event) is None
    assert _balance(records, contact) == 99


def test_migrates_from_empty_and_keeps_points_when_disabled(crm, records, make_contact):
    records.create(ledger.PLURAL, {"contact_id": make_contact().id, "points": 3, "reason": "Hi"})
    assert_plugin_migrates_and_survives_disable(crm, "loyalty")


def test_works_without_sales_installed_or_enabled(crm):
    assert "loyalty" in crm.enabled_plugins()
    assert "sales" not in crm.enabled_plugins()


# -- with the real crm-sales ----------------------------------------------------------------


def _order(records, contact, status=None):
    """A sales order of one line at 120.50 EUR for ``contact`` (crm-sales computes its total)."""
    data = {
        "contact_id": contact.id,
        "currency": "EUR",
        "lines": [{"description": "Hamper", "quantity": 1, "unit_price": "120.50"}],
    }
    if status:
        data["status"] = status
    return records.create("orders", data)


@needs_sales
@pytest.mark.crm_plugins("sales", "loyalty")
def test_paying_a_sales_order_awards_points(records, make_contact):
    contact = make_contact()
    order = _order(records, contact)
    expected = int(order.total)  # 120 without taxes; floor of the total in any case
    assert expected >= 120
    records.update("orders", order, {"status": "confirmed"})
    assert _balance(records, contact) == 0
    records.update("orders", order, {"status": "paid"})
    assert _balance(records, contact) == expected
    records.update("orders", order, {"status": "shipped"})
    assert _balance(records, contact) == expected  # once per order


@needs_sales
@pytest.mark.crm_plugins("sales", "loyalty")
def test_an_order_created_paid_awards_points(records, make_contact):
    contact = make_contact()
    order = _order(records, contact, status="paid")
    assert _balance(records, contact) == int(order.total)


@needs_sales
@pytest.mark.crm_plugins("sales", "loyalty")
def test_no_points_while_sales_is_disabled(records, make_contact, cli):
    contact = make_contact()
    order = _order(records, contact)
    assert cli("plugins", "disable", "sales").exit_code == 0
    records.crm.forget_enabled()
    event = _order_event(records, contact, oid=order.id)
    assert ledger.award_for_order(event) is None
    assert _balance(records, contact) == 0


def test_demo_data_gives_welcome_points(records, make_contact):
    import random

    from crmcore import DemoContext

    people = [make_contact() for _ in range(3)]
    ledger.demo(DemoContext(records=records, random=random.Random(1)), contacts=2)
    balances = [_balance(records, c) for c in people]
    assert sum(1 for b in balances if b > 0) == 2
    assert all(5 <= b <= 400 for b in balances if b)


def test_give_points_action_writes_an_entry(api, make_contact, make_user, api_as):
    contact = make_contact()
    r = api.post(
        f"/api/v1/contacts/{contact.id}/give_points", json={"points": 30, "reason": "Fair"}
    )
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["contact_id"] == contact.id and r.get_json()["points"] == 30
    assert r.headers["Location"].endswith(f"{URL}/{r.get_json()['id']}")
    r = api.post(f"/api/v1/contacts/{contact.id}/give_points", json={"points": 0, "reason": "x"})
    assert r.status_code == 422  # the ledger's own rule
    r = api.post(
        f"/api/v1/contacts/{contact.id}/give_points", json={"points": -99, "reason": "Mug"}
    )
    assert r.status_code == 422  # no overdraft
    rep = api_as(make_user("sales_rep"))  # reads the ledger, may not write it
    r = rep.post(f"/api/v1/contacts/{contact.id}/give_points", json={"points": 5, "reason": "x"})
    assert r.status_code in (403, 404)
    assert len(api.get(f"{URL}?contact_id={contact.id}").get_json()["data"]) == 1
