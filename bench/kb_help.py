"""Help-centre speed: server time of a public article page among 10,000 articles.

The figure is compared with a baseline measured in the same run on the same data: a minimal
Flask view reading the same article with raw SQL and returning a small page. Each request of
the real page also counts a view (one upsert), as in production.
Run: BENCH_ARTICLES=10000 python bench/kb_help.py (BENCH_KB_INSTANCE=<folder> reuses one)
"""

from __future__ import annotations

import os
import random
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from common import percentiles, timed
from flask import Flask, abort
from markupsafe import escape

WORDS = (
    "account password invoice refund shipping parcel order card login export import report "
    "contact company deal ticket queue agent reply portal billing plan upgrade cancel"
).split()


def article_rows(count: int, categories: list[int], seed: int = 11) -> Any:
    import datetime as dt

    from crm_kb.render import render, summary

    rnd = random.Random(seed)
    now = dt.datetime(2026, 1, 1)
    for i in range(count):
        words = rnd.sample(WORDS, 4)
        body = "\n\n".join(
            f"## {rnd.choice(WORDS).title()}\n\n" + " ".join(rnd.choices(WORDS, k=60))
            for _ in range(4)
        )
        yield {
            "title": f"How to {' '.join(words)} ({i})",
            "slug": f"how-to-{'-'.join(words)}-{i}",
            "body": body,
            "body_html": render(body),
            "summary": summary(body),
            "status": "published" if i % 10 else "draft",
            "visibility": "public" if i % 7 else "internal",
            "language": "es" if i % 5 == 0 else "en",
            "category_id": rnd.choice(categories),
            "tags": rnd.sample(WORDS, 2),
            "custom_fields": {},
            "created_at": now,
            "updated_at": now + dt.timedelta(seconds=i),
            "published_at": now,
            "version": 1,
        }


def build(count: int) -> tuple[Any, Path]:
    """A migrated instance with kb enabled and ``count`` articles (written straight in)."""
    from crm_kb.models import KbArticle
    from sqlalchemy import insert

    from crmcore.app import create_app
    from crmcore.instance import enable_plugin, init_instance

    path = Path(tempfile.mkdtemp(prefix="crm-kb-bench-"))
    app = create_app(path, config={"secret_key": "bench-" + "x" * 40})
    with app.app_context():
        crm = app.extensions["crm"]
        init_instance(crm)
        enable_plugin(crm, "kb")
        crm.forget_enabled()
        records = crm.records()
        categories = [records.create("categories", {"name": f"Topic {n}"}).id for n in range(20)]
        conn = crm.session.connection()
        batch: list[dict[str, Any]] = []
        for row in article_rows(count, categories):
            batch.append(row)
            if len(batch) == 2000:
                conn.execute(insert(KbArticle), batch)
                batch = []
        if batch:
            conn.execute(insert(KbArticle), batch)
        crm.session.commit()
        crm.session.execute(__import__("sqlalchemy").text("ANALYZE"))
        crm.session.commit()
    return app, path


def public_slugs(path: Path, n: int) -> list[str]:
    with sqlite3.connect(path / "crm.db") as db:
        rows = db.execute(
            "SELECT slug FROM kb_article WHERE status='published' AND visibility='public' "
            "ORDER BY random() LIMIT ?",
            (n,),
        ).fetchall()
    return [r[0] for r in rows]


def baseline_app(path: Path) -> Flask:
    """A minimal Flask view reading the same article with raw SQL."""
    app = Flask("baseline")
    db = sqlite3.connect(path / "crm.db", check_same_thread=False)

    @app.route("/help/articles/<slug>")
    def article(slug: str) -> str:
        row = db.execute(
            "SELECT title, summary, body_html FROM kb_article WHERE slug = ? AND "
            "status = 'published' AND visibility = 'public' AND deleted_at IS NULL LIMIT 1",
            (slug,),
        ).fetchone()
        if row is None:
            abort(404)
        title, summary, body = row
        return (
            f"<!doctype html><title>{escape(title)}</title>"
            f'<meta name="description" content="{escape(summary)}"><h1>{escape(title)}</h1>{body}'
        )

    return app


def main() -> None:
    count = int(os.environ.get("BENCH_ARTICLES", "10000"))
    repeat = int(os.environ.get("BENCH_REPEAT", "300"))
    start = time.perf_counter()
    reuse = os.environ.get("BENCH_KB_INSTANCE")  # a folder a previous run built
    if reuse and (Path(reuse) / "crm.db").exists():
        from crmcore.app import create_app

        path = Path(reuse)
        app = create_app(path, config={"secret_key": "bench-" + "x" * 40})
    else:
        app, path = build(count)
    print(f"instance with {count:,} articles built in {time.perf_counter() - start:.0f} s ({path})")
    slugs = public_slugs(path, repeat + 1)
    client, base = app.test_client(), baseline_app(path).test_client()

    def run(c: Any) -> Any:
        it = iter(slugs * 2)

        def one() -> None:
            r = c.get(f"/help/articles/{next(it)}")
            assert r.status_code == 200, r.status_code

        return one

    p50, p95 = percentiles(timed(run(client), repeat))
    b50, b95 = percentiles(timed(run(base), repeat))
    print(f"{'help article page':<28} p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  (goal p95 <= 50 ms)")
    print(f"{'baseline (raw SQL view)':<28} p50 {b50:6.1f} ms  p95 {b95:6.1f} ms")
    first = slugs[0]
    etag = client.get(f"/help/articles/{first}").headers["ETag"]
    c50, c95 = percentiles(
        timed(lambda: client.get(f"/help/articles/{first}", headers={"If-None-Match": etag}), 100)
    )
    print(f"{'revalidation (304)':<28} p50 {c50:6.1f} ms  p95 {c95:6.1f} ms")


if __name__ == "__main__":
    main()
