"""Browser story: a sales rep opens the insights pages on a phone (375 px) and a desktop
(1280 px) - segments, cohorts, the call list, a contact with its value, next best offers and
purchase propensity, a product with what its buyers also bought, a deal with its win
probability, the prediction models - and nothing scrolls sideways or logs a script error."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from crmcore.testing.browser import (
    WIDTHS,
    assert_no_sideways_scroll,
    free_port,
    instance_env,
    run_crm,
    serving,
    signed_in_page,
)

PASSWORD = "Browser-test-password-1"
REP = "rep@example.com"
ADMIN = "boss@example.com"
PANEL = "section[aria-labelledby='panel-{}']"
FITS = """() => ({scroll: document.documentElement.scrollWidth, inner: window.innerWidth})"""


def fill(instance: Path, database_url: str | None) -> dict[str, int]:
    """Orders, calls, tasks and deals of the rep, then the nightly computations."""
    from crmcore.app import create_app

    config = {"database_url": database_url} if database_url else {}
    app = create_app(instance, config=config)
    with app.app_context():
        from crmcore.users.models import User
        from sqlalchemy import select

        from crm_insights.analysis import affinity, call_times, predict, propensity, rfm

        crm = app.extensions["crm"]
        records = crm.records()
        rep = crm.session.scalar(select(User).where(User.email == REP))
        products = [
            records.create("products", {"sku": f"P{i}", "name": f"Producto {i}", "prices": {}})
            for i in range(3)
        ]
        contacts = []
        for i in range(6):
            contact = records.create(
                "contacts",
                {"first_name": f"Cliente{i}", "last_name": "Larguísimo-Apellido-Compuesto",
                 "owner_id": rep.id, "timezone": "Europe/Madrid", "phone": "+34911000000"},
            )  # fmt: skip
            contacts.append(contact)
            for month in range(1 + i % 4):
                bought = products[: 1 + (i + month) % 3]
                lines = [{"product_id": p.id, "quantity": "1", "unit_price": "120",
                          "tax_rate": "0"} for p in bought]  # fmt: skip
                records.create(
                    "orders",
                    {"contact_id": contact.id, "status": "paid", "currency": "EUR",
                     "order_date": (dt.date(2026, 1, 15) + dt.timedelta(days=31 * (month + i)))
                     .isoformat(), "lines": lines, "owner_id": rep.id},
                )  # fmt: skip
            for hour in (9, 9, 9, 16, 16, 16):
                records.create(
                    "activities",
                    {"kind": "call", "subject": "Llamada", "record_type": "contact",
                     "record_id": contact.id, "occurred_at": f"2026-02-0{1 + i}T{hour:02d}:00:00Z",
                     "outcome": "answered" if hour == 16 else "no answer"},
                )  # fmt: skip
            records.create(
                "tasks",
                {"title": "Llamar para renovar el contrato anual", "record_type": "contact",
                 "record_id": contact.id, "assignee_id": rep.id, "due_at": None},
            )  # fmt: skip
        stage = records.entity("stages").model
        open_ = crm.session.scalars(select(stage).where(~stage.is_won, ~stage.is_lost)).first()
        deal = records.create(
            "deals",
            {"title": "Renovación", "amount": "5000", "currency": "EUR", "stage_id": open_.id,
             "pipeline_id": open_.pipeline_id, "owner_id": rep.id, "contact_id": contacts[0].id},
        )  # fmt: skip
        rfm.run(crm, crm.session)
        affinity.compute(crm, crm.session)
        call_times.compute(crm, crm.session)
        predict.train(crm, crm.session)
        propensity.train(crm, crm.session)
        crm.session.commit()
        return {
            "contact": contacts[3].id,
            "buyer": contacts[0].id,  # bought only the first product
            "product": products[0].id,
            "deal": deal.id,
        }


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, instance_database: str | None
) -> Iterator[dict[str, Any]]:
    """An instance with sales and insights, the rep's data computed, served by `crm serve`."""
    port = free_port()
    instance = tmp_path_factory.mktemp("insights-browser")
    env = instance_env(instance, port, instance_database)
    run_crm(env, "init")
    run_crm(env, "plugins", "enable", "sales")
    run_crm(env, "plugins", "enable", "insights")
    run_crm(env, "users", "create", REP, "--password", PASSWORD, "--role", "sales_rep")
    run_crm(env, "users", "create", ADMIN, "--password", PASSWORD, "--role", "admin")
    ids = fill(instance, instance_database)
    with serving(env, port) as base:
        yield {"base": base, **ids}


@pytest.mark.parametrize("width", WIDTHS)
def test_insights_pages_fit_the_window(
    crm_browser: Any, server: dict[str, Any], width: int
) -> None:
    urls = [
        "/insights/customers/",
        "/insights/customers/cohorts",
        "/insights/calls/",
        f"/contacts/{server['contact']}",
        f"/contacts/{server['buyer']}",
        f"/products/{server['product']}",
        f"/deals/{server['deal']}",
        "/insights/models/",
    ]
    with signed_in_page(crm_browser, server["base"], REP, PASSWORD, width) as page:
        for url in urls:
            response = page.goto(url)
            assert response is not None and response.status == 200, url
            assert_no_sideways_scroll(page)
        page.goto("/insights/customers/cohorts")
        assert page.locator("#cohort-table tbody tr").count() >= 3
        page.goto("/insights/calls/")
        assert page.locator("#call-list tbody tr").count() == 6
        page.goto(f"/contacts/{server['contact']}")
        assert page.get_by_text("Customer value").count() >= 1
        assert page.locator("#panel-insights_propensity").count() == 1
        # next best offers: what buyers of the same product took, never what they have
        page.goto(f"/contacts/{server['buyer']}")
        offers = page.locator(f"{PANEL.format('insights_offers')} a[href^='/products/']")
        names = offers.all_inner_texts()
        assert names and "Producto 0" not in names, names
        offers.first.click()
        page.wait_for_url("**/products/*")
        also = page.locator(f"{PANEL.format('insights_also_bought')} a[href^='/products/']")
        assert also.count() >= 1
        assert_no_sideways_scroll(page)


def test_the_purchase_window_form_fits_a_phone(crm_browser: Any, server: dict[str, Any]) -> None:
    """An administrator sets the purchase window on the model page at 375 px; a value out of
    range is kept from being sent, and nothing scrolls sideways."""
    with signed_in_page(crm_browser, server["base"], ADMIN, PASSWORD, 375) as page:
        page.goto("/insights/models/")
        page.locator("#window_days").fill("5")
        page.get_by_role("button", name="Save the window").click()
        # the browser keeps the form (below 7 days); the server refuses it too (other tests)
        assert page.evaluate("() => document.getElementById('window_days').validity.valid") is False
        size = page.evaluate(FITS)
        assert size["scroll"] <= size["inner"], size
        page.locator("#window_days").fill("60")
        page.get_by_role("button", name="Save the window").click()
        page.wait_for_load_state()
        assert page.locator("#window_days").input_value() == "60"
        size = page.evaluate(FITS)
        assert size["scroll"] <= size["inner"], size
