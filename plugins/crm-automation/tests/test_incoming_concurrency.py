"""Identical incoming-webhook requests without an idempotency key, sent at the same instant to
a served instance (SQLite, and PostgreSQL with ``--crm-db``), make one record, not one each."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from crmcore.testing.browser import api, free_port, instance_env, run_crm, serving

PASSWORD = "Concurrency-test-password-1"
REQUESTS = 8


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, instance_database: str | None
) -> Iterator[dict[str, Any]]:
    """An instance with automation enabled, served with several threads."""
    port = free_port()
    env = instance_env(tmp_path_factory.mktemp("incoming-race"), port, instance_database)
    env.pop("CRM_REDIS_URL", None)
    run_crm(env, "init")
    run_crm(env, "plugins", "enable", "automation")
    run_crm(env, "users", "create", "admin@example.com", "--password", PASSWORD, "--role",
            "admin")  # fmt: skip
    with serving(env, port, threads=REQUESTS) as base:
        token = api(base, "POST", "/api/v1/auth/token",
                    {"email": "admin@example.com", "password": PASSWORD})["token"]  # fmt: skip
        yield {"base": base, "token": token}


def _post(url: str, payload: dict[str, Any]) -> int:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), method="POST",
        headers={"Content-Type": "application/json"})  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def _at_once(url: str, payloads: list[dict[str, Any]]) -> list[int]:
    """POST every payload from its own thread, all released together."""
    start = threading.Barrier(len(payloads))
    statuses: list[int] = [0] * len(payloads)

    def send(n: int) -> None:
        start.wait()
        statuses[n] = _post(url, payloads[n])

    threads = [threading.Thread(target=send, args=(n,)) for n in range(len(payloads))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    return statuses


def _contacts(server: dict[str, Any], email: str) -> list[dict[str, Any]]:
    found = api(server["base"], "GET", f"/api/v1/contacts?email={quote(email)}&limit=50",
                token=server["token"])  # fmt: skip
    return list(found["data"])


def _hook_rule(server: dict[str, Any], name: str) -> str:
    rule = api(server["base"], "POST", "/api/v1/workflows", {
        "name": name, "entity": "contacts", "actions": [{"type": "add_tags", "tags": ["web"]}],
        "trigger": {"type": "incoming_webhook", "match_field": "email", "create": True},
    }, server["token"])  # fmt: skip
    return str(rule["hook_url"])


def test_identical_requests_at_once_create_one_record(server: dict[str, Any]) -> None:
    url = _hook_rule(server, "Web form")
    payload = {"email": "race@example.com", "first_name": "Rosa", "last_name": "Race"}
    statuses = _at_once(url, [payload] * REQUESTS)
    assert statuses == [202] * REQUESTS
    assert len(_contacts(server, "race@example.com")) == 1
    # the same address spelt otherwise is the same match value: still one record
    again = _at_once(url, [{**payload, "email": " RACE@example.com"}] * 3)
    assert again == [202] * 3
    assert len(_contacts(server, "race@example.com")) == 1


def test_different_values_at_once_each_make_their_record(server: dict[str, Any]) -> None:
    url = _hook_rule(server, "Sign-ups")
    emails = [f"signup{n}@example.com" for n in range(4)]
    payloads = [{"email": e, "last_name": "Signup"} for e in emails for _twice in range(2)]
    assert _at_once(url, payloads) == [202] * len(payloads)
    for email in emails:
        assert len(_contacts(server, email)) == 1, email
