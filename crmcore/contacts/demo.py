"""Realistic demo companies and contacts, in English and Spanish."""

from __future__ import annotations

from ..contributions import DemoContext

COMPANIES = [
    ("Acme Logistics", "acme-logistics.com", "Chicago", "US", "Transport"),
    ("Bodegas Rioja Alta", "riojaalta.es", "Haro", "ES", "Food & drink"),
    ("Northwind Traders", "northwind.example", "Seattle", "US", "Wholesale"),
    ("Talleres Martínez", "talleresmartinez.es", "Valencia", "ES", "Automotive"),
    ("Greenleaf Dental", "greenleafdental.com", "Bristol", "GB", "Health"),
    ("Ferretería López", "ferreterialopez.es", "Sevilla", "ES", "Retail"),
    ("Blue Harbor Hotels", "blueharbor.com", "Boston", "US", "Hospitality"),
    ("Clínica Sonrisa", "clinicasonrisa.mx", "Guadalajara", "MX", "Health"),
]
FIRST = [
    "Ana",
    "José",
    "Laura",
    "Miguel",
    "Sarah",
    "David",
    "Lucía",
    "Tom",
    "Carmen",
    "Peter",
    "Sofía",
    "James",
    "Elena",
    "Raúl",
    "Emma",
    "Jorge",
]
LAST = [
    "García",
    "Smith",
    "Martínez",
    "Johnson",
    "López",
    "Brown",
    "Sánchez",
    "Taylor",
    "Fernández",
    "Wilson",
    "Ruiz",
    "Moore",
]
TITLES = [
    "CEO",
    "Purchasing manager",
    "Office manager",
    "CTO",
    "Directora comercial",
    "Gerente",
    "Owner",
    None,
]
TAGS = ["vip", "newsletter", "partner", "prospect", "customer"]


def _ascii(text: str) -> str:
    from ..search import normalise

    return normalise(text).replace(" ", "")


def create(ctx: DemoContext) -> None:
    rnd = ctx.random
    reps = [u for u in ctx.users.values() if u is not None]
    companies = []
    for name, domain, city, country, industry in COMPANIES:
        owner = rnd.choice(reps) if reps else None
        companies.append(
            ctx.records.create(
                "companies",
                {
                    "name": name,
                    "domain": domain,
                    "city": city,
                    "country": country,
                    "industry": industry,
                    "website": f"https://www.{domain}",
                    "owner_id": owner.id if owner else None,
                    "tags": rnd.sample(TAGS, k=rnd.randint(0, 2)),
                },
                commit=False,
            )
        )
    ctx.records.commit()
    for i in range(40):
        first, last = rnd.choice(FIRST), rnd.choice(LAST)
        company = rnd.choice(companies)
        owner = rnd.choice(reps) if reps else None
        ctx.records.create(
            "contacts",
            {
                "first_name": first,
                "last_name": last,
                "email": f"{_ascii(first)}.{_ascii(last)}{i}@{company.domain}",
                "phone": f"+1 312 555 {1000 + i:04d}" if company.country == "US" else None,
                "title": rnd.choice(TITLES),
                "company_id": company.id,
                "city": company.city,
                "country": company.country,
                "owner_id": owner.id if owner else None,
                "tags": rnd.sample(TAGS, k=rnd.randint(0, 2)),
                "best_time_from": "09:00",
                "best_time_to": "13:00",
            },
            commit=False,
        )
    ctx.records.commit()
