"""The line editor of quote and order forms (test client): rows added, moved and removed
without JavaScript, the totals endpoint, errors on their row, escaping, prefill from a parent
record, lines as a table on the record's page, and product prices per currency."""

from __future__ import annotations

import re
from html import unescape

import pytest

from crmcore.testing.forms import form_data

pytestmark = pytest.mark.crm_plugins("sales")

HOSTILE = '<img src=x onerror="alert(1)">'


@pytest.fixture
def product(records):
    return records.create(
        "products",
        {
            "sku": "SEAT",
            "name": "CRM seat",
            "prices": {"EUR": "240.00", "USD": "260.00"},
            "tax_rate": "21.00",
            "active": True,
        },
    )


@pytest.fixture
def support(records):
    return records.create(
        "products",
        {"sku": "GOLD", "name": "Gold support", "prices": {"EUR": "100.00"}, "tax_rate": "10"},
    )


def rows_of(html: str, name: str = "lines") -> list[int]:
    """The row numbers of a list's editor, in page order (the row template left out)."""
    html = re.sub(r"<template.*?</template>", "", html, flags=re.S)
    return [int(n) for n in re.findall(rf'name="{name}-(\d+)-quantity"', html)]


def text_of(html: str, element_id: str) -> str:
    found = re.search(rf'id="{re.escape(element_id)}"[^>]*>(.*?)</(?:td|div)>', html, re.S)
    assert found, element_id
    return unescape(re.sub(r"<[^>]+>", " ", found.group(1))).split()


def test_a_new_quote_has_empty_rows_and_adds_more_without_javascript(web):
    html = web.get("/quotes/new").get_data(as_text=True)
    assert rows_of(html) == [0, 1, 2]
    assert "data-line-template" in html and 'hx-post="/quotes/new/lines"' in html
    data = form_data(html)
    data["lines-0-description"] = "Kept"
    data["lines-0-quantity"] = "2"
    data["_rows"] = "lines:add"
    response = web.post("/quotes/new", data=data)
    assert response.status_code == 200  # redrawn, nothing saved
    html = response.get_data(as_text=True)
    assert rows_of(html) == [0, 1, 2, 3]
    assert 'value="Kept"' in html


def test_rows_move_and_go_without_javascript(web, records):
    data = form_data(web.get("/quotes/new").get_data(as_text=True))
    for i, name in enumerate(("First", "Second", "Third")):
        data.update({f"lines-{i}-description": name, f"lines-{i}-quantity": "1"})
        data[f"lines-{i}-unit_price"] = "10"
    data["_rows"] = "lines:up:2"
    html = web.post("/quotes/new", data=data).get_data(as_text=True)
    order = re.findall(r'name="lines-\d-description"[^>]*value="(\w+)"', html)
    assert order[:3] == ["First", "Third", "Second"]
    data = form_data(html)
    data["_rows"] = "lines:remove:0"
    html = web.post("/quotes/new", data=data).get_data(as_text=True)
    data = form_data(html)
    assert [data[f"lines-{i}-description"] for i in (0, 1)] == ["Third", "Second"]
    for bad in ("lines:up:99", "lines:explode:1", "other:add", "lines:down:x", "lines:up:²"):
        assert web.post("/quotes/new", data={**data, "_rows": bad}).status_code == 200
    assert records.count("quotes") == 0
    response = web.post("/quotes/new", data=data)
    assert response.status_code == 303, response.get_data(as_text=True)
    quote = records.get("quotes", int(response.headers["Location"].rsplit("/", 1)[1]))
    assert [line["description"] for line in quote.lines] == ["Third", "Second"]
    assert str(quote.total) == "20.00"


def test_picking_a_product_fills_the_row_from_the_documents_currency(web, product, records):
    price_list = records.create(
        "price_lists", {"name": "Dollar partners", "currency": "USD", "prices": {}}
    )
    records.update("price_lists", price_list, {"prices": {str(product.id): "199.00"}})
    data = form_data(web.get("/quotes/new").get_data(as_text=True))
    data.update(currency="USD", price_list_id=str(price_list.id))
    data["lines-1-product_id"] = str(product.id)
    data["lines-1-unit_price"] = "1.00"  # typed for the product chosen before
    data["_changed"] = "lines-1-product_id"
    response = web.post("/quotes/new/lines", data=data)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    fill = re.search(r"data-line-fill='([^']*)'", html).group(1)
    import json

    filled = json.loads(unescape(fill))
    assert filled == {
        "lines-1-description": "CRM seat",
        "lines-1-quantity": "1",
        "lines-1-tax_rate": "21.00",
        "lines-1-unit_price": "199.00",
    }
    assert text_of(html, "f-lines-1-total") == ["$240.79"]
    totals = re.search(r'id="f-lines-totals".*?</dl>', html, re.S).group(0)
    assert re.sub(r"<[^>]+>", " ", totals).split()[-7:] == [
        "Subtotal", "$199.00", "Tax", "total", "$41.79", "Total", "$240.79"
    ]  # fmt: skip
    # typing in a row (no reference changed) keeps what was typed
    data["_changed"] = "lines-1-quantity"
    data.update({"lines-1-quantity": "2", "lines-1-unit_price": "150"})
    html = web.post("/quotes/new/lines", data=data).get_data(as_text=True)
    assert "data-line-fill='{}'" in html
    assert text_of(html, "f-lines-1-net") == ["$300.00"]
    assert records.count("quotes") == 0  # a preview writes nothing


def test_errors_show_on_the_row_that_caused_them(web, product, records):
    data = form_data(web.get("/quotes/new").get_data(as_text=True))
    data.update({"lines-0-product_id": str(product.id), "lines-0-quantity": "1"})
    data.update({"lines-1-description": "Free text", "lines-1-quantity": "-2"})
    data.update({"lines-1-unit_price": "5"})
    html = web.post("/quotes/new/lines", data=data).get_data(as_text=True)
    assert "Must be more than 0." in text_of(html, "f-lines-1-quantity-errors")[0] + " ".join(
        text_of(html, "f-lines-1-quantity-errors")
    )
    assert text_of(html, "f-lines-0-quantity-errors") == []
    # saving refuses it, keeps every row as typed and marks the row
    response = web.post("/quotes/new", data=data)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'value="Free text"' in html and 'value="-2"' in html
    assert re.search(r'id="f-lines-1-quantity"[^>]*aria-invalid="true"', html, re.S)
    assert "Must be more than 0." in html
    # a product without a price in the quote's currency: the error is on that row
    data.update({"currency": "GBP", "lines-1-quantity": "1"})
    html = web.post("/quotes/new", data=data).get_data(as_text=True)
    assert "The product has no price in GBP." in " ".join(
        text_of(html, "f-lines-0-unit_price-errors")
    )
    assert records.count("quotes") == 0


def test_hostile_descriptions_are_escaped_everywhere(web, records):
    data = form_data(web.get("/quotes/new").get_data(as_text=True))
    data.update({"lines-0-description": HOSTILE, "lines-0-quantity": "1"})
    data["lines-0-unit_price"] = "3"
    preview = web.post("/quotes/new/lines", data=data).get_data(as_text=True)
    assert HOSTILE not in preview
    data["lines-0-quantity"] = "0"
    form = web.post("/quotes/new", data=data).get_data(as_text=True)
    assert HOSTILE not in form and "&lt;img src=x" in form
    data["lines-0-quantity"] = "1"
    response = web.post("/quotes/new", data=data)
    assert response.status_code == 303
    page = web.get(response.headers["Location"]).get_data(as_text=True)
    assert HOSTILE not in page and "&lt;img src=x" in page
    edit = web.get(response.headers["Location"] + "/edit").get_data(as_text=True)
    assert HOSTILE not in edit


def test_the_quote_page_shows_lines_as_a_table(web, product, records):
    quote = records.create(
        "quotes", {"lines": [{"product_id": product.id, "quantity": "2"}], "currency": "EUR"}
    )
    html = web.get(f"/quotes/{quote.id}").get_data(as_text=True)
    assert "product_id:" not in html and "sku:" not in html and "{" not in _details(html)
    assert 'class="lines-view"' in html
    assert f'<a href="/products/{product.id}">CRM seat</a>' in html
    assert "€480.00" in html and "€580.80" in html
    product_page = web.get(f"/products/{product.id}").get_data(as_text=True)
    assert "EUR:" not in product_page and "€240.00" in product_page and "$260.00" in product_page


def _details(html: str) -> str:
    return re.search(r'id="fields-heading".*?</section>', html, re.S).group(0)


def test_edit_keeps_lines_and_the_endpoint_checks_access(web, web_as, make_user, product, records):
    rep = make_user("sales_rep")
    quote = records.create(
        "quotes",
        {"lines": [{"product_id": product.id, "quantity": "2"}], "owner_id": rep.id},
    )
    html = web.get(f"/quotes/{quote.id}/edit").get_data(as_text=True)
    assert rows_of(html)[:1] == [0] and 'value="CRM seat"' in html
    data = form_data(html)
    data["lines-0-quantity"] = "3"
    response = web.post(f"/quotes/{quote.id}/edit/lines", data=data)
    assert "€871.20" in response.get_data(as_text=True)
    response = web.post(f"/quotes/{quote.id}/edit", data=data)
    assert response.status_code == 303, response.get_data(as_text=True)
    records.session.expire_all()
    assert str(records.get("quotes", quote.id).total) == "871.20"
    history = web.get(f"/quotes/{quote.id}").get_data(as_text=True)
    assert "Rows: 1" in history and "product_id" not in history and "sku:" not in history
    other = web_as(make_user("sales_rep"))
    data["csrf_token"] = form_data(other.get("/quotes/new").get_data(as_text=True))["csrf_token"]
    assert other.post(f"/quotes/{quote.id}/edit/lines", data=data).status_code == 404
    token = form_data(web.get("/quotes/new").get_data(as_text=True))["csrf_token"]
    response = web.post("/pipelines/new/lines", data={"csrf_token": token})
    assert response.status_code == 404  # no lines there


def test_a_deal_prefills_its_quote_and_a_quote_its_order(
    web, web_as, make_user, make_contact, product, records
):
    company = records.create("companies", {"name": "Acme"})
    contact = make_contact(company_id=company.id)
    deal = records.create(
        "deals", {"title": "Big one", "currency": "USD", "contact_id": contact.id}
    )
    data = form_data(web.get(f"/quotes/new?deal_id={deal.id}").get_data(as_text=True))
    assert data["deal_id"] == str(deal.id)
    assert data["contact_id"] == str(contact.id), data
    assert data["company_id"] == str(company.id) and data["currency"] == "USD"
    data.update({"lines-0-product_id": str(product.id), "lines-0-quantity": "2"})
    response = web.post("/quotes/new", data=data)
    assert response.status_code == 303, response.get_data(as_text=True)
    quote = records.get("quotes", int(response.headers["Location"].rsplit("/", 1)[1]))
    assert str(quote.total) == "629.20"
    # the "Add" link of the quote's orders section copies its lines
    page = web.get(f"/quotes/{quote.id}").get_data(as_text=True)
    assert f"/orders/new?quote_id={quote.id}" in page
    data = form_data(web.get(f"/orders/new?quote_id={quote.id}").get_data(as_text=True))
    assert data["currency"] == "USD" and data["contact_id"] == str(contact.id)
    assert data["lines-0-product_id"] == str(product.id) and data["lines-0-quantity"] == "2"
    assert data["lines-0-unit_price"] == "260.00"
    response = web.post("/orders/new", data=data)
    assert response.status_code == 303, response.get_data(as_text=True)
    order = records.get("orders", int(response.headers["Location"].rsplit("/", 1)[1]))
    assert str(order.total) == str(quote.total)
    # a parent the user may not read prefills nothing (and does not fail)
    outsider = web_as(make_user("sales_rep"))
    response = outsider.get(f"/orders/new?quote_id={quote.id}")
    assert response.status_code == 200
    assert "lines-0-product_id" not in {
        k for k, v in form_data(response.get_data(as_text=True)).items() if v
    }
    for junk in ("abc", "-1", "99999999999999999999", "²"):
        assert web.get(f"/quotes/new?deal_id={junk}").status_code == 200


def test_products_start_active_with_editable_prices(web, records):
    html = web.get("/products/new").get_data(as_text=True)
    data = form_data(html)
    assert data["active"] == "on"
    assert "prices-0-key" in data and "prices-0-value" in data
    data.update({"sku": "NEW", "name": "New thing", "prices-0-key": "EUR"})
    data.update({"prices-0-value": "10.50", "prices-1-key": "USD", "prices-1-value": "12"})
    response = web.post("/products/new", data=data)
    assert response.status_code == 303, response.get_data(as_text=True)
    product = records.get("products", int(response.headers["Location"].rsplit("/", 1)[1]))
    assert product.active is True and product.prices == {"EUR": "10.50", "USD": "12"}
    html = web.get(f"/products/{product.id}/edit").get_data(as_text=True)
    data = form_data(html)
    assert data["prices-1-key"] == "USD"
    data["prices-1-key"] = "XYZ"
    response = web.post(f"/products/{product.id}/edit", data=data)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Not an ISO 4217 currency code" in " ".join(text_of(html, "f-prices-1-key-errors"))
    data.update({"prices-1-key": "", "prices-1-value": ""})  # an emptied row goes
    response = web.post(f"/products/{product.id}/edit", data=data)
    assert response.status_code == 303, response.get_data(as_text=True)
    records.session.expire_all()
    assert records.get("products", product.id).prices == {"EUR": "10.50"}


def test_a_sent_quote_keeps_its_lines_when_its_form_is_saved(web, product, records):
    quote = records.create(
        "quotes", {"lines": [{"product_id": product.id, "quantity": "2"}], "status": "sent"}
    )
    data = form_data(web.get(f"/quotes/{quote.id}/edit").get_data(as_text=True))
    data["title"] = "Renamed"
    response = web.post(f"/quotes/{quote.id}/edit", data=data)
    assert response.status_code == 303, response.get_data(as_text=True)
    data = form_data(web.get(f"/quotes/{quote.id}/edit").get_data(as_text=True))
    data["lines-0-quantity"] = "5"
    response = web.post(f"/quotes/{quote.id}/edit", data=data)
    assert response.status_code == 422
    assert "The lines of a sent document cannot change." in response.get_data(as_text=True)


def test_without_javascript_update_totals_fills_rows_and_shows_amounts(web, product, records):
    data = form_data(web.get("/quotes/new").get_data(as_text=True))
    data["lines-0-product_id"] = str(product.id)  # a product chosen, nothing else typed
    data["_rows"] = "lines:refresh"
    response = web.post("/quotes/new", data=data)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    filled = form_data(html)
    assert filled["lines-0-description"] == "CRM seat"
    assert filled["lines-0-quantity"] == "1" and filled["lines-0-unit_price"] == "240.00"
    assert text_of(html, "f-lines-0-total") == ["€290.40"]
    assert "€290.40" in re.search(r'id="f-lines-totals".*?</dl>', html, re.S).group(0)
    assert records.count("quotes") == 0
    response = web.post("/quotes/new", data=filled)
    assert response.status_code == 303, response.get_data(as_text=True)
