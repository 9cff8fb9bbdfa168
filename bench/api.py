"""API speed at scale: list pages (first, deep, filtered, search) and GET one contact.

Each figure is compared with a baseline measured in the same run on the same data:
the bare SQL of the same query for lists, and a minimal Flask view reading the same row
with raw SQL for GET one contact. Run: BENCH_CONTACTS=1000000 python bench/api.py
"""

from __future__ import annotations

import json
import os
import sqlite3
import statistics
import time
from typing import Any

from common import build_instance, percentiles, size, timed
from flask import Flask, jsonify

#: goal 2's comparison: rounds of requests to the minimal view, then to the API list
ROUNDS = int(os.environ.get("BENCH_API_ROUNDS", "10"))
PER_ROUND = 40


def main() -> None:
    count = size()
    start = time.perf_counter()
    app, path = build_instance(count)
    print(f"instance with {count:,} contacts built in {time.perf_counter() - start:.0f} s ({path})")
    with app.app_context():
        from crmcore.api.auth import issue_token
        from crmcore.users.models import User

        crm = app.extensions["crm"]
        admin = crm.session.get(User, app.config["BENCH_ADMIN_ID"])
        token, _ = issue_token(crm.session, admin, "bench", 10)
        crm.session.commit()
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    db = sqlite3.connect(path / "crm.db")

    def api(url: str) -> Any:
        response = client.get(url, headers=headers)
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.get_json()

    deep_cursor = _cursor_at(app, count // 2)
    cases = {
        "first page (25, newest first)": (
            "/api/v1/contacts?limit=25",
            "SELECT * FROM core_contact WHERE deleted_at IS NULL ORDER BY id DESC LIMIT 26",
        ),
        f"page {count // 2:,} rows deep": (
            f"/api/v1/contacts?limit=25&cursor={deep_cursor}",
            f"SELECT * FROM core_contact WHERE deleted_at IS NULL AND id < {count // 2} "
            "ORDER BY id DESC LIMIT 26",
        ),
        "filtered (city=Sevilla, by last name)": (
            "/api/v1/contacts?limit=25&city=Sevilla&sort=last_name",
            "SELECT * FROM core_contact WHERE deleted_at IS NULL AND lower(city) = 'sevilla' "
            "ORDER BY last_name, id LIMIT 26",
        ),
        "search q=garcia madrid": (
            "/api/v1/contacts?limit=25&q=garcia%20madrid",
            "SELECT * FROM core_contact WHERE deleted_at IS NULL AND id IN (SELECT record_id "
            "FROM core_search_doc WHERE entity='contact' AND id IN (SELECT rowid FROM "
            'core_search_fts WHERE core_search_fts MATCH \'"garcia"* "madrid"*\')) '
            "ORDER BY id DESC LIMIT 26",
        ),
    }
    print(f"{'list request':<40} {'p50 ms':>8} {'p95 ms':>8} {'SQL p95':>8} {'ratio':>7}")
    for name, (url, sql) in cases.items():
        api_p50, api_p95 = percentiles(timed(lambda url=url: api(url), 60))
        _sql_p50, sql_p95 = percentiles(timed(lambda sql=sql: db.execute(sql).fetchall(), 60))
        print(
            f"{name:<40} {api_p50:8.1f} {api_p95:8.1f} {sql_p95:8.2f} "
            f"{api_p95 / max(sql_p95, 1e-6):6.1f}x"
        )

    minimal = Flask("minimal")

    @minimal.get("/contacts")
    def page() -> Any:
        conn = sqlite3.connect(path / "crm.db")
        conn.row_factory = sqlite3.Row
        rows = conn.execute(
            "SELECT * FROM core_contact WHERE deleted_at IS NULL ORDER BY id DESC LIMIT 26"
        ).fetchall()
        conn.close()
        body = json.dumps({"data": [dict(r) for r in rows[:25]], "next_cursor": None})
        return minimal.response_class(body, mimetype="application/json")

    @minimal.get("/contacts/<int:cid>")
    def one(cid: int) -> Any:
        conn = sqlite3.connect(path / "crm.db")
        conn.row_factory = sqlite3.Row
        row = conn.execute("SELECT * FROM core_contact WHERE id = ?", (cid,)).fetchone()
        conn.close()
        return jsonify(dict(row))

    raw = minimal.test_client()
    # interleaved rounds: a change in the machine's load touches both sides alike
    bare_wall: list[float] = []
    list_wall: list[float] = []
    bare_cpu: list[float] = []
    list_cpu: list[float] = []
    raw.get("/contacts").get_data()
    api("/api/v1/contacts?limit=25")
    for _ in range(ROUNDS):
        for _ in range(PER_ROUND):
            wall_cpu_timed(bare_wall, bare_cpu, lambda: raw.get("/contacts").get_data())
        for _ in range(PER_ROUND):
            wall_cpu_timed(list_wall, list_cpu, lambda: api("/api/v1/contacts?limit=25"))
    list50, bare50 = statistics.median(list_wall) * 1000, statistics.median(bare_wall) * 1000
    ratio = list50 / bare50
    cpu_ratio = statistics.median(list_cpu) / statistics.median(bare_cpu)
    print(
        f"API list, 25 rows ({ROUNDS} interleaved rounds of {PER_ROUND} requests each): "
        f"p50 {list50:.2f} ms; minimal Flask + raw SQL + json.dumps: p50 "
        f"{bare50:.2f} ms; {ratio:.2f}x: {'PASS' if ratio <= 2 else 'MISS'} (goal <= 2x); "
        f"by CPU time {cpu_ratio:.2f}x: {'PASS' if cpu_ratio <= 2 else 'MISS'}"
    )

    target = count // 3

    n = 400
    t0 = time.perf_counter()
    for _ in range(n):
        assert raw.get(f"/contacts/{target}").status_code == 200
    raw_rate = n / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for _ in range(n):
        api(f"/api/v1/contacts/{target}")
    api_rate = n / (time.perf_counter() - t0)
    print(
        f"GET one contact: {api_rate:.0f} req/s; minimal Flask + raw SQL: {raw_rate:.0f} req/s; "
        f"ratio {api_rate / raw_rate:.2f} (goal >= 0.5)"
    )


def wall_cpu_timed(wall: list[float], cpu: list[float], fn: Any) -> None:
    """Run ``fn``, adding its wall time and its CPU time (immune to other processes' load)."""
    start, start_cpu = time.perf_counter(), time.process_time()
    fn()
    cpu.append(time.process_time() - start_cpu)
    wall.append(time.perf_counter() - start)


def _cursor_at(app: Any, contact_id: int) -> str:
    from itsdangerous import URLSafeSerializer

    crm = app.extensions["crm"]
    return URLSafeSerializer(crm.settings.secret_key, salt="cursor:contacts").dumps(
        ["-id", contact_id, contact_id]
    )


if __name__ == "__main__":
    main()
