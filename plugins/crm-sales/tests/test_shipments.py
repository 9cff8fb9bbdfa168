"""Shipments of an order: lines and quantities (never more than ordered, several parcels per
order), the ship/deliver actions stamping their dates, what is left to ship on the order's page,
carrier tracking links from the sales settings and the settings page itself."""

from __future__ import annotations

import datetime as dt

import pytest
from crm_sales.shipments import TRACKING_SETTING, tracking_url

from crmcore.api.settings import save_settings

pytestmark = pytest.mark.crm_plugins("sales")


@pytest.fixture
def order(api):
    def make(owner=None, status="confirmed"):
        lines = [
            {"description": "Chair", "quantity": "5", "unit_price": "10.00"},
            {"description": "Desk", "quantity": "2", "unit_price": "100.00"},
        ]
        body = {"lines": lines, "status": status}
        if owner is not None:
            body["owner_id"] = owner.id
        response = api.post("/api/v1/orders", json=body)
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    return make


def ship(client, order_id, lines, **extra):
    return client.post(
        "/api/v1/shipments",
        json={"order_id": order_id, "carrier": "UPS", "lines": lines, **extra},
    )


def test_partial_shipments_never_exceed_the_order(api, order):
    o = order()
    first = ship(api, o["id"], [{"line": 1, "quantity": "3"}, {"line": 2, "quantity": "2"}])
    assert first.status_code == 201, first.get_json()
    assert first.get_json()["lines"][0] == {"line": 1, "description": "Chair", "quantity": "3"}
    too_many = ship(api, o["id"], [{"line": 1, "quantity": "3"}])
    assert too_many.status_code == 422
    assert too_many.get_json()["errors"] == {
        "lines": {"0": {"quantity": ["More than is left to ship on this line."]}}
    }
    twice = ship(api, o["id"], [{"line": 1, "quantity": "1"}, {"line": 1, "quantity": "2"}])
    assert twice.status_code == 422 and "1" in twice.get_json()["errors"]["lines"]
    missing = ship(api, o["id"], [{"line": 3, "quantity": "1"}])
    assert missing.get_json()["errors"]["lines"]["0"] == {"line": ["The order has no such line."]}
    for bad in ({"line": 1, "quantity": "0"}, {"line": 0, "quantity": "1"}, {"line": "x"}):
        assert ship(api, o["id"], [bad]).status_code == 422
    second = ship(api, o["id"], [{"line": 1, "quantity": "2"}])
    assert second.status_code == 201
    # a returned parcel gives its quantities back
    sid = second.get_json()["id"]
    assert api.patch(f"/api/v1/shipments/{sid}", json={"status": "returned"}).status_code == 200
    assert ship(api, o["id"], [{"line": 1, "quantity": "2"}]).status_code == 201


def test_draft_or_cancelled_orders_do_not_ship_and_a_shipment_keeps_its_order(api, order):
    draft = order(status="draft")
    refused = ship(api, draft["id"], [{"line": 1, "quantity": "1"}])
    assert refused.status_code == 422 and "order_id" in refused.get_json()["errors"]
    o, other = order(), order()
    sid = ship(api, o["id"], [{"line": 1, "quantity": "1"}]).get_json()["id"]
    moved = api.patch(f"/api/v1/shipments/{sid}", json={"order_id": other["id"]})
    assert moved.status_code == 422 and "order_id" in moved.get_json()["errors"]


def test_ship_and_deliver_actions_stamp_the_dates(api, api_as, make_user, order, crm):
    o = order()
    shipment = ship(api, o["id"], [{"line": 2, "quantity": "1"}]).get_json()
    url = f"/api/v1/shipments/{shipment['id']}"
    assert shipment["shipped_at"] is None and shipment["status"] == "pending"
    done = api.post(f"{url}/ship")
    assert done.status_code == 200, done.get_json()
    today = dt.date.today()
    after = api.get(url).get_json()
    assert after["status"] == "shipped"
    assert abs(dt.date.fromisoformat(after["shipped_at"]) - today) <= dt.timedelta(days=1)
    assert api.post(f"{url}/ship").status_code == 409
    locked = api.patch(url, json={"lines": [{"line": 2, "quantity": "2"}]})
    assert locked.status_code == 422
    # the form sends the lines back unchanged with another field: that is fine
    same = api.patch(url, json={"lines": [{"line": 2, "quantity": "1"}], "tracking_number": "1Z9"})
    assert same.status_code == 200, same.get_json()
    assert api.post(f"{url}/deliver").status_code == 200
    delivered = api.get(url).get_json()
    assert delivered["status"] == "delivered" and delivered["delivered_at"] is not None
    assert api.post(f"{url}/deliver").status_code == 409
    rep = make_user("sales_rep")
    assert api_as(rep).post(f"{url}/deliver").status_code == 404  # not the rep's


def test_deliver_straight_from_pending_stamps_both_dates(api, order):
    o = order()
    sid = ship(api, o["id"], [{"line": 1, "quantity": "5"}]).get_json()["id"]
    assert api.post(f"/api/v1/shipments/{sid}/deliver").status_code == 200
    body = api.get(f"/api/v1/shipments/{sid}").get_json()
    assert body["shipped_at"] is not None and body["delivered_at"] is not None


def test_tracking_links_from_the_settings(api, crm, order, admin):
    o = order()
    created = ship(
        api, o["id"], [{"line": 1, "quantity": "1"}], tracking_number="1Z 99/&x"
    ).get_json()
    assert created["tracking_url"] is None  # no pattern yet
    save_settings(
        crm.session, {TRACKING_SETTING: {"ups": "https://track.example/t?n={number}"}}, admin.id
    )
    body = api.get(f"/api/v1/shipments/{created['id']}").get_json()
    assert body["tracking_url"] == "https://track.example/t?n=1Z%2099%2F%26x"
    assert tracking_url("Nobody", "1") is None and tracking_url("UPS", None) is None


def test_order_page_shows_what_is_left_and_the_shipment_its_link(
    web_client, api, crm, order, admin
):
    save_settings(
        crm.session, {TRACKING_SETTING: {"ups": "https://track.example/t?n={number}"}}, admin.id
    )
    o = order()
    s = ship(api, o["id"], [{"line": 1, "quantity": "5"}], tracking_number="AB<1>").get_json()
    client = web_client(admin)
    html = client.get(f"/orders/{o['id']}").get_data(as_text=True)
    assert 'id="to-ship"' in html.replace("'", '"')
    assert "Some lines are still to ship." in html
    assert "AB&lt;1&gt;" in html and "AB<1>" not in html
    assert "https://track.example/t?n=AB%3C1%3E" in html
    new = client.get(f"/shipments/new?order_id={o['id']}").get_data(as_text=True)
    assert 'value="2"' in new  # the desk line, both still to ship, prefilled
    ship(api, o["id"], [{"line": 2, "quantity": "2"}])
    html = client.get(f"/orders/{o['id']}").get_data(as_text=True)
    assert "Everything is shipped." in html
    page = client.get(f"/shipments/{s['id']}").get_data(as_text=True)
    assert "tracking-link" in page


def test_settings_page_saves_patterns_refuses_bad_ones_and_shows_the_snippet(
    web_client, make_user, csrf_of, crm
):
    manager = make_user("manager")
    client = web_client(manager)
    page = client.get("/sales/settings")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "/sales/web-to-lead" in html and "homepage" in html  # the snippet with its honeypot
    token = csrf_of(html)
    typed = '{"ups": "javascript:alert(1)//{number}", "dhl": "https://dhl.example/{number}"}'
    bad = client.post("/sales/settings", data={"tracking_urls": typed, "csrf_token": token})
    assert bad.status_code == 422
    text = bad.get_data(as_text=True)
    assert "tracking_urls-error" in text and "ups:" in text
    assert "dhl.example" in text  # what was typed is kept
    assert (
        client.post(
            "/sales/settings", data={"tracking_urls": "[1, 2", "csrf_token": token}
        ).status_code
        == 422
    )
    good = client.post(
        "/sales/settings",
        data={"tracking_urls": '{"DHL": "https://dhl.example/{number}"}', "csrf_token": token},
    )
    assert good.status_code == 303
    with crm.app.test_request_context():
        assert tracking_url("dhl", "9") == "https://dhl.example/9"
    rep = make_user("sales_rep")
    assert web_client(rep).get("/sales/settings").status_code == 403


def test_the_new_pages_speak_spanish(web_client, make_user, api, order, csrf_of):
    client = web_client(make_user("manager", locale="es"))
    es: dict[str, str] = {}
    forecast = client.get("/sales/forecast", headers=es).get_data(as_text=True)
    assert "Previsión" in forecast and "Trimestre" in forecast and "Quarter" not in forecast
    settings = client.get("/sales/settings", headers=es).get_data(as_text=True)
    assert "Enlaces de seguimiento de transportistas" in settings
    o = order()
    token = csrf_of(client.get(f"/shipments/new?order_id={o['id']}").get_data(as_text=True))
    typed = {"order_id": o["id"], "carrier": "UPS", "lines-0-line": "1", "lines-0-quantity": "99"}
    refused = client.post("/shipments/new", data={**typed, "csrf_token": token}, headers=es)
    assert refused.status_code in (200, 422)
    text = refused.get_data(as_text=True)
    assert "Más de lo que queda por enviar en esta línea." in text
    assert 'value="99"' in text  # what was typed stays


def test_shipments_move_the_order_partially_shipped_shipped_delivered(api, order):
    o = order()
    url = f"/api/v1/orders/{o['id']}"

    def status():
        return api.get(url).get_json()["status"]

    first = ship(api, o["id"], [{"line": 1, "quantity": "5"}, {"line": 2, "quantity": "1"}])
    first_id = first.get_json()["id"]
    assert status() == "confirmed"  # a pending parcel has not left
    assert api.post(f"/api/v1/shipments/{first_id}/ship").status_code == 200
    assert status() == "partially_shipped"
    # the rest leaves already delivered (picked up at the counter): every line has left now
    second = ship(api, o["id"], [{"line": 2, "quantity": "1"}]).get_json()["id"]
    assert api.post(f"/api/v1/shipments/{second}/deliver").status_code == 200
    assert status() == "shipped"  # the first parcel is still on its way
    assert api.post(f"/api/v1/shipments/{first_id}/deliver").status_code == 200
    assert status() == "delivered"
    # a returned parcel does not take a delivered order back
    assert api.patch(f"/api/v1/shipments/{second}", json={"status": "returned"}).status_code == 200
    assert status() == "delivered"


def test_a_parcel_that_leaves_at_once_and_cancelled_orders_stay(api, order, records):
    o = order(status="paid")
    created = ship(api, o["id"], [{"line": 1, "quantity": "1"}], status="shipped")
    assert created.status_code == 201
    assert api.get(f"/api/v1/orders/{o['id']}").get_json()["status"] == "partially_shipped"
    # an order cancelled after a parcel was made is not revived by that parcel's delivery
    other = order()
    sid = ship(api, other["id"], [{"line": 1, "quantity": "5"}, {"line": 2, "quantity": "2"}])
    cancel = api.patch(f"/api/v1/orders/{other['id']}", json={"status": "cancelled"})
    assert cancel.status_code == 200, cancel.get_json()
    assert api.post(f"/api/v1/shipments/{sid.get_json()['id']}/deliver").status_code == 200
    assert api.get(f"/api/v1/orders/{other['id']}").get_json()["status"] == "cancelled"


def test_the_shipment_form_picks_lines_of_its_order(
    web_client, api, order, admin, csrf_of, make_user
):
    o = order()
    ship(api, o["id"], [{"line": 1, "quantity": "2"}])
    client = web_client(admin)
    html = client.get(f"/shipments/new?order_id={o['id']}").get_data(as_text=True)
    assert '<select id="f-lines-0-line" name="lines-0-line"' in html
    assert "1 · Chair (3 of 5 left)" in html and "2 · Desk (2 of 2 left)" in html
    # without an order there is nothing to pick from: a plain input
    plain = client.get("/shipments/new").get_data(as_text=True)
    assert '<select id="f-lines-0-line"' not in plain
    # a line the order does not have stays selected after the refusal, with its message
    token = csrf_of(html)
    typed = {"order_id": o["id"], "carrier": "UPS", "lines-0-line": "7", "lines-0-quantity": "1"}
    refused = client.post("/shipments/new", data={**typed, "csrf_token": token})
    text = refused.get_data(as_text=True)
    assert refused.status_code == 422 and "The order has no such line." in text
    assert '<option value="7" selected>' in text
    # a rep picking from someone else's order learns nothing of its lines
    rep = web_client(make_user("sales_rep"))
    foreign = rep.get(f"/shipments/new?order_id={o['id']}").get_data(as_text=True)
    assert "Chair" not in foreign and "Desk" not in foreign
