"""Demo data: products, a price list, leads, deals across the stages, quotes and orders."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from crmcore import DemoContext

from .deals import first_stage
from .models import Stage

PRODUCTS = (
    ("CRM-SEAT", "CRM seat, yearly", "240.00", "21"),
    ("CRM-ONBOARD", "Onboarding workshop", "1200.00", "21"),
    ("SUPPORT-GOLD", "Gold support, yearly", "3000.00", "21"),
    ("HW-SCANNER", "Badge scanner", "189.90", "21"),
)
LEADS = (
    ("Ines", "Navarro", "ines@solaris-energia.es", "Solaris Energía", "web", 60),
    ("Tom", "Becker", "tom.becker@gmail.com", "Becker Bau", "trade fair", 35),
    ("Amara", "Okafor", "amara@lagos-logistics.ng", "Lagos Logistics", "referral", 80),
    ("Lena", "Svensson", "lena@nordlys.se", "Nordlys AB", "cold call", 10),
)
DEALS = ("Platform rollout", "Seat expansion", "Support renewal", "Pilot project", "Hardware")


def create_demo_data(ctx: DemoContext) -> None:
    """Everything through ``ctx.records``; contacts come from the contacts plugin's demo."""
    records, rnd = ctx.records, ctx.random
    reps = [u for key, u in ctx.users.items() if key.startswith("sales_rep") and u is not None]
    products = [
        records.create(
            "products",
            {
                "sku": sku,
                "name": name,
                "prices": {"EUR": price, "USD": price},
                "tax_rate": tax,
                "active": True,
            },
            commit=False,
        )
        for sku, name, price, tax in PRODUCTS
    ]
    records.commit()
    records.create(
        "price_lists",
        {
            "name": "Partners EUR",
            "currency": "EUR",
            "customer_group": "partners",
            "prices": {str(products[0].id): "199.00"},
        },
    )
    for first, last, email, company, source, score in LEADS:
        records.create(
            "leads",
            {
                "first_name": first,
                "last_name": last,
                "email": email,
                "company_name": company,
                "source": source,
                "score": score,
                "owner_id": rnd.choice(reps).id if reps else None,
            },
            commit=False,
        )
    records.commit()
    start = first_stage(records.session, None)
    if start is None:
        return
    stages = list(
        records.session.scalars(
            select(Stage).where(Stage.pipeline_id == start.pipeline_id).order_by(Stage.position)
        )
    )
    contacts = list(records.session.scalars(records.query("contacts").limit(12)))
    today = dt.date.today()
    for n, contact in enumerate(contacts):
        stage = stages[n % len(stages)]
        owner = contact.owner_id or (rnd.choice(reps).id if reps else None)
        deal = records.create(
            "deals",
            {
                "title": f"{DEALS[n % len(DEALS)]} · {contact.last_name}",
                "amount": f"{rnd.randint(20, 400) * 50}.00",
                "currency": "EUR",
                "stage_id": stage.id,
                "close_date": (today + dt.timedelta(days=rnd.randint(-30, 150))).isoformat(),
                "contact_id": contact.id,
                "company_id": contact.company_id,
                "owner_id": owner,
                "lost_reason": "Chose a competitor" if stage.is_lost else None,
            },
        )
        if n % 3:
            continue
        lines = [
            {
                "product_id": p.id,
                "quantity": str(rnd.randint(1, 20)),
                "discount_percent": str(rnd.choice((0, 5, 10))),
            }
            for p in rnd.sample(products, k=2)
        ]
        quote = records.create(
            "quotes",
            {
                "title": deal.title,
                "contact_id": contact.id,
                "company_id": contact.company_id,
                "deal_id": deal.id,
                "currency": "EUR",
                "lines": lines,
                "owner_id": owner,
                "valid_until": (today + dt.timedelta(days=30)).isoformat(),
            },
        )
        if stage.is_won:
            from .documents import order_from_quote

            order: Any = order_from_quote(records, quote.id)
            records.update("orders", order, {"status": "paid"})
