"""Products, price lists, quotes (totals, bad input, PDF, e-mail) and orders with shipments."""

from __future__ import annotations

import email
import io
from email import policy

import pytest
from sqlalchemy import select

pytestmark = pytest.mark.crm_plugins("sales")


@pytest.fixture
def product(api):
    response = api.post(
        "/api/v1/products",
        json={
            "sku": "SEAT",
            "name": "CRM seat",
            "prices": {"EUR": "240.00", "USD": "260.00"},
            "tax_rate": "21",
            "active": True,
        },
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def quote(api, lines, **fields):
    response = api.post("/api/v1/quotes", json={"lines": lines, **fields})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def pdf_text(data: bytes) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def test_totals_are_computed_with_half_up_rounding(api, product):
    q = quote(
        api,
        [
            {"product_id": product["id"], "quantity": "3", "discount_percent": "12.5"},
            {"description": "Half cent", "quantity": "0.5", "unit_price": "0.25", "tax_rate": "0"},
            {
                "description": "Consulting",
                "quantity": "1.5",
                "unit_price": "33.33",
                "tax_rate": "7",
            },
        ],
    )
    assert q["number"] == "Q-000001" and q["status"] == "draft" and q["currency"] == "EUR"
    nets = [(line["net"], line["tax"], line["total"]) for line in q["lines"]]
    # 3 x 240 x 0.875 = 630.00, tax 132.30; 0.125 -> 0.13 (half up, not half even)
    # 1.5 x 33.33 = 49.995 -> 50.00, tax 3.50
    assert nets == [
        ("630.00", "132.30", "762.30"),
        ("0.13", "0.00", "0.13"),
        ("50.00", "3.50", "53.50"),
    ]
    assert (q["subtotal"], q["tax_total"], q["total"]) == ("680.13", "135.80", "815.93")
    assert q["lines"][0]["description"] == "CRM seat" and q["lines"][0]["sku"] == "SEAT"
    assert quote(api, [])["number"] == "Q-000002"


def test_client_sums_are_never_trusted(api, product):
    response = api.post(
        "/api/v1/quotes",
        json={"lines": [{"product_id": product["id"], "quantity": "1"}], "total": "1.00"},
    )
    assert response.status_code == 422
    assert "total" in response.get_json()["errors"]
    line_total = api.post(
        "/api/v1/quotes",
        json={"lines": [{"product_id": product["id"], "quantity": "1", "total": "1.00"}]},
    )
    assert line_total.status_code == 422


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ({"description": "x", "quantity": "-1", "unit_price": "5"}, "quantity"),
        ({"description": "x", "quantity": "0", "unit_price": "5"}, "quantity"),
        (
            {"description": "x", "quantity": "1", "unit_price": "5", "discount_percent": "100.01"},
            "discount_percent",
        ),
        ({"description": "x", "quantity": "1", "unit_price": "-5"}, "unit_price"),
        ({"description": "x", "quantity": "1", "unit_price": "5", "tax_rate": "-1"}, "tax_rate"),
        ({"description": "x", "quantity": "1", "unit_price": "5", "currency": "USD"}, "currency"),
        ({"description": "x", "quantity": "1"}, "unit_price"),
        ({"product_id": 999999, "quantity": "1"}, "product_id"),
    ],
)
def test_bad_lines_are_refused(api, line, message):
    response = api.post("/api/v1/quotes", json={"currency": "EUR", "lines": [line]})
    assert response.status_code == 422, response.get_json()
    errors = response.get_json()["errors"]["lines"]
    assert message in errors["0"], errors


def test_product_without_a_price_in_the_quote_currency(api, product):
    response = api.post(
        "/api/v1/quotes",
        json={"currency": "GBP", "lines": [{"product_id": product["id"], "quantity": "1"}]},
    )
    assert response.status_code == 422
    assert "no price in GBP" in response.get_json()["errors"]["lines"]["0"]["unit_price"][0]
    usd = quote(api, [{"product_id": product["id"], "quantity": "2"}], currency="USD")
    assert usd["subtotal"] == "520.00"


def test_price_list_prices_win(api, product):
    plist = api.post(
        "/api/v1/price_lists",
        json={
            "name": "Partners",
            "currency": "EUR",
            "customer_group": "partners",
            "prices": {str(product["id"]): "199.00"},
        },
    ).get_json()
    q = quote(api, [{"product_id": product["id"], "quantity": "1"}], price_list_id=plist["id"])
    assert q["lines"][0]["unit_price"] == "199.00"
    usd = api.post(
        "/api/v1/quotes",
        json={
            "currency": "USD",
            "price_list_id": plist["id"],
            "lines": [{"product_id": product["id"], "quantity": "1"}],
        },
    )
    assert usd.status_code == 422 and "price_list_id" in usd.get_json()["errors"]


def test_lines_change_only_in_draft(api, product):
    q = quote(api, [{"product_id": product["id"], "quantity": "1"}])
    url = f"/api/v1/quotes/{q['id']}"
    changed = api.patch(url, json={"lines": [{"product_id": product["id"], "quantity": "2"}]})
    assert changed.get_json()["subtotal"] == "480.00"
    assert api.patch(url, json={"status": "sent"}).get_json()["sent_at"]
    refused = api.patch(url, json={"lines": []})
    assert refused.status_code == 422


def test_quote_pdf(api, product, make_contact):
    contact = make_contact(first_name="Grace", last_name="Hopper <script>")
    q = quote(
        api,
        [{"product_id": product["id"], "quantity": "2"}],
        contact_id=contact.id,
        title="Seats for 2027",
    )
    response = api.get(f"/api/v1/quotes/{q['id']}/pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF")
    text = pdf_text(response.data)
    assert "Q-000001" in text and "Seats for 2027" in text and "580.80 EUR" in text
    assert "Hopper <script>" in text  # shown as text, escaped in the HTML


def test_an_instance_can_override_the_pdf_template(api, product, crm):
    folder = crm.settings.instance_path / "templates" / "sales"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "quote.html").write_text("<h1>Custom offer {{ quote.number }}</h1>")
    try:
        q = quote(api, [{"product_id": product["id"], "quantity": "1"}])
        text = pdf_text(api.get(f"/api/v1/quotes/{q['id']}/pdf").data)
    finally:
        (folder / "quote.html").unlink()
    assert "Custom offer Q-000001" in text


def test_pdf_of_a_quote_the_user_may_not_read(api_as, make_user, records, product):
    rep, other = make_user("sales_rep"), make_user("sales_rep")
    q = records.create("quotes", {"owner_id": other.id, "lines": []})
    response = api_as(rep).get(f"/api/v1/quotes/{q.id}/pdf")
    assert response.status_code == 404
    assert not response.data.startswith(b"%PDF")
    assert api_as(other).get(f"/api/v1/quotes/{q.id}/pdf").data.startswith(b"%PDF")


def test_send_quote_by_email_with_the_pdf(api, crm, product, make_contact):
    crm.jobs.huey.flush()  # the queue is the app's: other tests may have left jobs in it
    contact = make_contact(email="buyer@example.com")
    q = quote(api, [{"product_id": product["id"], "quantity": "1"}], contact_id=contact.id)
    response = api.post(f"/api/v1/quotes/{q['id']}/send", json={"message": "Here it is."})
    assert response.status_code == 202, response.get_json()
    assert response.get_json()["to"] == "buyer@example.com"
    assert api.get(f"/api/v1/quotes/{q['id']}").get_json()["status"] == "sent"
    huey = crm.jobs.huey
    task = huey.dequeue()
    assert task is not None
    huey.execute(task)
    outbox = (crm.settings.instance_path / "outbox").glob("**/*.eml")  # shared by the tests
    sent = [email.message_from_bytes(p.read_bytes(), policy=policy.default) for p in outbox]
    mine = [m for m in sent if m["To"] == "buyer@example.com"]
    assert len(mine) == 1
    message = mine[0]
    assert message["Subject"] == "Quote Q-000001"
    parts = {p.get_filename(): p for p in message.iter_attachments()}
    assert parts["Q-000001.pdf"].get_content().startswith(b"%PDF")
    from crmcore.activities.models import Activity

    (logged,) = crm.session.scalars(
        select(Activity).where(Activity.record_type == "quote", Activity.record_id == q["id"])
    ).all()
    assert (logged.kind, logged.direction, logged.subject) == ("email", "out", "Quote Q-000001")
    assert "Q-000001.pdf" in logged.body and "Here it is." in logged.body
    assert logged.owner_id is not None
    no_mail = quote(api, [])
    refused = api.post(f"/api/v1/quotes/{no_mail['id']}/send", json={})
    assert refused.status_code == 422 and "to" in refused.get_json()["errors"]


def test_quote_becomes_an_order_once(api, product, make_contact):
    contact = make_contact()
    q = quote(api, [{"product_id": product["id"], "quantity": "2"}], contact_id=contact.id)
    response = api.post(f"/api/v1/quotes/{q['id']}/order")
    assert response.status_code == 201, response.get_json()
    order = response.get_json()
    assert response.headers["Location"] == f"/api/v1/orders/{order['id']}"
    assert (order["number"], order["status"], order["quote_id"], order["total"]) == (
        "O-000001",
        "confirmed",
        q["id"],
        q["total"],
    )
    assert order["contact_id"] == contact.id and order["lines"][0]["sku"] == "SEAT"
    assert api.get(f"/api/v1/quotes/{q['id']}").get_json()["status"] == "accepted"
    assert api.post(f"/api/v1/quotes/{q['id']}/order").status_code == 409
    rejected = quote(api, [], status="rejected")
    assert api.post(f"/api/v1/quotes/{rejected['id']}/order").status_code == 409


def test_order_status_flow_and_shipments(api, product):
    order = api.post(
        "/api/v1/orders", json={"lines": [{"product_id": product["id"], "quantity": "1"}]}
    ).get_json()
    url = f"/api/v1/orders/{order['id']}"
    assert order["status"] == "draft" and order["total"] == "290.40"
    assert api.patch(url, json={"status": "delivered"}).status_code == 422
    for status in ("confirmed", "paid"):
        assert api.patch(url, json={"status": status}).status_code == 200
    shipment = api.post(
        "/api/v1/shipments",
        json={
            "order_id": order["id"],
            "carrier": "DHL",
            "tracking_number": "JD0123",
            "status": "shipped",
            "shipped_at": "2026-11-20",
        },
    )
    assert shipment.status_code == 201, shipment.get_json()
    assert api.patch(url, json={"status": "shipped"}).status_code == 200
    delivered = api.patch(
        f"/api/v1/shipments/{shipment.get_json()['id']}",
        json={"status": "delivered", "delivered_at": "2026-11-22"},
    )
    assert delivered.get_json()["delivered_at"] == "2026-11-22"
    listed = api.get(f"/api/v1/shipments?order_id={order['id']}").get_json()["data"]
    assert [s["tracking_number"] for s in listed] == ["JD0123"]
    assert api.patch(url, json={"status": "cancelled"}).status_code == 422
    bad = api.post("/api/v1/shipments", json={"order_id": 999999, "carrier": "UPS"})
    assert bad.status_code == 422


def test_purchase_history_of_contacts_and_companies(
    api, product, make_contact, make_company, api_as, make_user, records
):
    company = make_company()
    contact = make_contact(company_id=company.id)
    q = quote(
        api,
        [{"product_id": product["id"], "quantity": "3"}],
        contact_id=contact.id,
        company_id=company.id,
    )
    order = api.post(f"/api/v1/quotes/{q['id']}/order").get_json()
    api.post("/api/v1/orders", json={"contact_id": contact.id, "lines": []})  # a draft: no
    bought = api.get(f"/api/v1/contacts/{contact.id}/purchases").get_json()["data"]
    assert [(p["number"], p["total"]) for p in bought] == [(order["number"], order["total"])]
    assert bought[0]["lines"][0]["sku"] == "SEAT" and bought[0]["lines"][0]["quantity"] == "3"
    assert (
        api.get(f"/api/v1/companies/{company.id}/purchases").get_json()["data"][0]["order_id"]
        == order["id"]
    )
    rep = make_user("sales_rep")
    assert api_as(rep).get(f"/api/v1/contacts/{contact.id}/purchases").status_code == 404
    own = records.create("contacts", {"last_name": "Own", "owner_id": rep.id})
    records.create("orders", {"contact_id": own.id, "status": "paid", "lines": []})
    assert api_as(rep).get(f"/api/v1/contacts/{own.id}/purchases").get_json()["data"] == []


def test_a_customer_groups_price_list_is_chosen(api, product, make_company, make_contact):
    partners = api.post(
        "/api/v1/price_lists",
        json={
            "name": "Partners",
            "currency": "EUR",
            "customer_group": "partners",
            "prices": {str(product["id"]): "200.00"},
        },
    ).get_json()
    api.post(
        "/api/v1/price_lists",
        json={"name": "Partners US", "currency": "USD", "customer_group": "partners",
              "prices": {str(product["id"]): "215.00"}},
    )  # fmt: skip
    partner = make_company(name="Partner SL", custom_fields={"customer_group": "partners"})
    employee = make_contact(company_id=partner.id)
    line = [{"product_id": product["id"], "quantity": "1"}]

    by_company = quote(api, line, company_id=partner.id)
    assert by_company["price_list_id"] == partners["id"]
    assert by_company["subtotal"] == "200.00"
    by_contact = quote(api, line, contact_id=employee.id, currency="USD")
    assert by_contact["currency"] == "USD" and by_contact["subtotal"] == "215.00"
    # customers outside any group get the products' own prices
    other = make_company(name="Walk-in")
    assert quote(api, line, company_id=other.id)["price_list_id"] is None
    assert quote(api, line, company_id=other.id)["subtotal"] == "240.00"


def test_an_expired_quote_does_not_become_an_order(api, product):
    q = quote(api, [{"product_id": product["id"], "quantity": "1"}], valid_until="2020-01-31")
    response = api.post(f"/api/v1/quotes/{q['id']}/order")
    assert response.status_code == 409
    assert "expired on 2020-01-31" in response.get_json()["detail"]
    assert api.get("/api/v1/orders").get_json()["data"] == []
    assert api.get(f"/api/v1/quotes/{q['id']}").get_json()["status"] == "draft"
    valid = quote(api, [{"product_id": product["id"], "quantity": "1"}], valid_until="2099-01-31")
    assert api.post(f"/api/v1/quotes/{valid['id']}/order").status_code == 201


def test_quote_pdf_in_the_customers_language(api, product, make_contact):
    contact = make_contact(first_name="Lucía", locale="es")
    q = quote(api, [{"product_id": product["id"], "quantity": "2"}], contact_id=contact.id,
              valid_until="2027-03-01")  # fmt: skip
    text = pdf_text(api.get(f"/api/v1/quotes/{q['id']}/pdf").data)
    assert "Presupuesto Q-" in text and "Precio unitario" in text and "Borrador" in text
    assert "580,80 EUR" in text and "marzo de 2027" in text
    english = quote(api, [{"product_id": product["id"], "quantity": "2"}])
    text = pdf_text(api.get(f"/api/v1/quotes/{english['id']}/pdf").data)
    assert "Quote Q-" in text and "Unit price" in text and "580.80 EUR" in text
