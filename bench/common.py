"""Shared set-up of the benchmarks: a file-based instance filled with realistic contacts.

The filling itself is not measured: it writes straight into the tables (and the search
documents) so that a million-contact instance takes a minute, not an hour.
"""

from __future__ import annotations

import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

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
    "Olivia",
    "Noah",
    "Marta",
    "Liam",
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
    "Gómez",
    "Clark",
    "Díaz",
    "Lewis",
]
CITIES = [
    ("Madrid", "ES"),
    ("Sevilla", "ES"),
    ("Valencia", "ES"),
    ("Chicago", "US"),
    ("Boston", "US"),
    ("Seattle", "US"),
    ("Bristol", "GB"),
    ("Guadalajara", "MX"),
]
TAGS = ["vip", "newsletter", "partner", "prospect", "customer"]


def size() -> int:
    return int(os.environ.get("BENCH_CONTACTS", "1000000"))


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p50 = statistics.median(ordered)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return p50 * 1000, p95 * 1000


def timed(fn: Callable[[], Any], repeat: int) -> list[float]:
    fn()  # warm-up
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def contact_rows(count: int, owners: list[int], seed: int = 7) -> Any:
    """Rows for core_contact, generated lazily."""
    import datetime as dt

    from crmcore.search import normalise

    rnd = random.Random(seed)
    now = dt.datetime(2026, 1, 1)
    for i in range(count):
        first, last = rnd.choice(FIRST), rnd.choice(LAST)
        city, country = rnd.choice(CITIES)
        email = f"{normalise(first)}.{normalise(last)}.{i}@example.com".replace(" ", "")
        stamp = now + dt.timedelta(seconds=i)
        tags = rnd.sample(TAGS, k=rnd.randint(0, 2))
        yield {
            "first_name": first,
            "last_name": last,
            "email": email,
            "phone": f"+3491{i % 10_000_000:07d}",
            "city": city,
            "country": country,
            "owner_id": rnd.choice(owners),
            "tags": tags,
            "custom_fields": {},
            "emails": [],
            "phones": [],
            "addresses": [],
            "email_opt_out": False,
            "created_at": stamp,
            "updated_at": stamp,
            "version": 1,
        }


def build_instance(count: int, path: Path | None = None) -> tuple[Any, Path]:
    """A migrated instance with ``count`` contacts owned by ten sales reps.

    With ``BENCH_INSTANCE`` naming a folder already built (``bench/run`` builds one and
    shares it between the benchmarks), that instance is opened instead.
    """
    shared = os.environ.get("BENCH_INSTANCE")
    if shared and (Path(shared) / "crm.db").exists():
        return open_instance(Path(shared))
    if shared:
        path = Path(shared)
        path.mkdir(parents=True, exist_ok=True)
    from sqlalchemy import insert

    from crmcore.app import create_app
    from crmcore.contacts.models import Contact
    from crmcore.instance import create_user, init_instance
    from crmcore.search import SearchDoc, normalise

    path = path or Path(tempfile.mkdtemp(prefix="crm-bench-"))
    app = create_app(path, config={"secret_key": "bench-" + "x" * 40})
    with app.app_context():
        crm = app.extensions["crm"]
        init_instance(crm)
        admin = create_user(crm, "admin@example.com", "Bench-password-1", "admin")
        reps = [
            create_user(crm, f"rep{i}@example.com", "Bench-password-1", "sales_rep").id
            for i in range(10)
        ]
        conn = crm.session.connection()
        batch: list[dict[str, Any]] = []
        next_id = 1
        for row in contact_rows(count, reps):
            batch.append(row)
            if len(batch) == 20_000:
                next_id = _flush(conn, Contact, SearchDoc, batch, next_id, normalise, insert)
        if batch:
            _flush(conn, Contact, SearchDoc, batch, next_id, normalise, insert)
        crm.session.commit()
        if crm.engine.dialect.name == "sqlite":
            crm.session.execute(__import__("sqlalchemy").text("ANALYZE"))
            crm.session.commit()
        app.config["BENCH_ADMIN_ID"] = admin.id
        app.config["BENCH_REP_IDS"] = reps
    return app, path


def open_instance(path: Path) -> tuple[Any, Path]:
    """An app on an instance made by ``build_instance``."""
    from sqlalchemy import select

    from crmcore.app import create_app
    from crmcore.users.models import User

    app = create_app(path, config={"secret_key": "bench-" + "x" * 40})
    with app.app_context():
        session = app.extensions["crm"].session
        app.config["BENCH_ADMIN_ID"] = session.scalar(
            select(User.id).where(User.email == "admin@example.com")
        )
        app.config["BENCH_REP_IDS"] = list(
            session.scalars(select(User.id).where(User.email.like("rep%")).order_by(User.id))
        )
    return app, path


def _flush(
    conn: Any,
    contact: Any,
    doc: Any,
    batch: list[dict[str, Any]],
    next_id: int,
    normalise: Any,
    insert: Any,
) -> int:
    for offset, row in enumerate(batch):
        row["id"] = next_id + offset
    conn.execute(insert(contact), batch)
    conn.execute(
        insert(doc),
        [
            {
                "entity": "contact",
                "record_id": r["id"],
                "owner_id": r["owner_id"],
                "title": f"{r['first_name']} {r['last_name']}",
                "body": normalise(
                    " ".join(
                        [
                            r["first_name"],
                            r["last_name"],
                            r["email"],
                            r["phone"],
                            r["city"],
                            *r["tags"],
                        ]
                    )
                ),
            }
            for r in batch
        ],
    )
    next_id += len(batch)
    batch.clear()
    return next_id


if __name__ == "__main__":
    started = time.perf_counter()
    _app, built = build_instance(size())
    print(f"instance with {size():,} contacts in {built} ({time.perf_counter() - started:.0f} s)")
