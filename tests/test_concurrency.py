"""Concurrent readers and writers against a served instance (`crm serve`, two processes of eight
threads): no write fails with a 5xx (a 503 with Retry-After is the only allowed refusal),
every created record is readable afterwards and the counts are exact.

Before the fix, a server thread that had answered a GET kept beginning its later transactions
as readers (``BEGIN`` instead of ``BEGIN IMMEDIATE``) on SQLite, and concurrent POSTs failed
with 500 "database is locked".
"""

from __future__ import annotations

import http.client
import itertools
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from crmcore.testing.browser import api, free_port, instance_env, run_crm, serving

PASSWORD = "Concurrency-test-password-1"
THREADS = 16
SECONDS = 15


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, instance_database: str | None
) -> Iterator[tuple[str, str]]:
    port = free_port()
    env = instance_env(tmp_path_factory.mktemp("concurrency"), port, instance_database)
    run_crm(env, "init")
    run_crm(env, "users", "create", "load@example.com", "--password", PASSWORD, "--role", "admin")
    with serving(env, port, workers=2, threads=8) as base:
        body = {"email": "load@example.com", "password": PASSWORD}
        token = api(base, "POST", "/api/v1/auth/token", body)["token"]
        yield base, token


def call(
    conn: http.client.HTTPConnection, method: str, path: str, token: str, body: Any = None
) -> tuple[int, dict[str, str], Any]:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    payload = json.dumps(body) if body is not None else None
    conn.request(method, path, body=payload, headers=headers)
    response = conn.getresponse()
    raw = response.read()
    data = json.loads(raw) if raw else None
    return response.status, dict(response.getheaders()), data


def test_mixed_readers_and_writers_never_fail(served: tuple[str, str]) -> None:
    base, token = served
    host, port = base.removeprefix("http://").split(":")
    created: list[int] = []
    statuses: Counter[tuple[str, int]] = Counter()
    failures: list[str] = []
    numbers = itertools.count()
    lock = threading.Lock()
    deadline = time.monotonic() + SECONDS

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        while time.monotonic() < deadline:
            kind = rng.choice(("list", "read", "write", "write"))
            if kind == "write":
                n = next(numbers)
                body = {"first_name": "Load", "last_name": f"N{n}", "email": f"n{n}@example.com"}
                status, headers, data = call(conn, "POST", "/api/v1/contacts", token, body)
            elif kind == "read" and created:
                status, headers, data = call(
                    conn, "GET", f"/api/v1/contacts/{rng.choice(created)}", token
                )
            else:
                status, headers, data = call(conn, "GET", "/api/v1/contacts?limit=20", token)
            with lock:
                statuses[(kind, status)] += 1
                if status == 201:
                    created.append(data["id"])
                elif status == 503 and "Retry-After" in headers:
                    pass
                elif status not in (200, 201):
                    failures.append(f"{kind}: {status} {data}")
        conn.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not failures, (failures[:5], statuses)
    assert statuses[("write", 201)] > 50, statuses
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    for record_id in created:
        status, _headers, data = call(conn, "GET", f"/api/v1/contacts/{record_id}", token)
        assert status == 200, (record_id, status, data)
    listed: list[int] = []
    path = "/api/v1/contacts?limit=200"
    while path:
        status, _headers, data = call(conn, "GET", path, token)
        assert status == 200, data
        listed += [row["id"] for row in data["data"]]
        cursor = data.get("next_cursor")
        path = f"/api/v1/contacts?limit=200&cursor={cursor}" if cursor else ""
    conn.close()
    assert sorted(listed) == sorted(created)
    assert len(set(created)) == len(created) == statuses[("write", 201)]


def test_concurrent_requests_with_one_key_make_one_record(served: tuple[str, str]) -> None:
    base, token = served
    host, port = base.removeprefix("http://").split(":")
    body = {"first_name": "Once", "last_name": "Only", "email": "once@example.com"}
    answers: list[tuple[int, Any]] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def send() -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Idempotency-Key": "one-key-many-senders",
        }
        start.wait()
        conn.request("POST", "/api/v1/contacts", body=json.dumps(body), headers=headers)
        response = conn.getresponse()
        data = json.loads(response.read())
        conn.close()
        with lock:
            answers.append((response.status, data))

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {status for status, _data in answers} == {201}, answers
    assert len({data["id"] for _status, data in answers}) == 1
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    status, _headers, data = call(conn, "GET", "/api/v1/contacts?email=once@example.com", token)
    conn.close()
    assert status == 200 and len(data["data"]) == 1
