"""The sample receiver of ``examples/webhook-receiver``: a real delivery from a served instance
verifies, and a tampered or replayed copy of it is refused."""

from __future__ import annotations

import importlib.util
import io
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from crmcore.testing import PASSWORD
from crmcore.testing.browser import api, free_port, instance_env, run_crm, serving

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "webhook-receiver" / "receiver.py"


def _load_example() -> Any:
    spec = importlib.util.spec_from_file_location("webhook_receiver_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def example_receiver() -> Iterator[Any]:
    module = _load_example()
    raw: list[tuple[dict[str, str], bytes]] = []

    class Recording(module.Handler):  # keeps the raw requests, to replay them tampered
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            raw.append((dict(self.headers.items()), body))
            self.rfile = io.BytesIO(body)
            super().do_POST()

    server = module.Receiver(("127.0.0.1", 0), secret="not yet", on_event=lambda e: None)
    server.RequestHandlerClass = Recording
    server.raw = raw
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _post(url: str, headers: dict[str, str], body: bytes) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_a_served_instance_s_delivery_verifies_and_a_tampered_one_is_refused(
    tmp_path: Path, instance_database: str | None, example_receiver: Any
) -> None:
    port = free_port()
    env = instance_env(tmp_path / "instance", port, instance_database)
    env.pop("CRM_REDIS_URL", None)
    run_crm(env, "init")
    run_crm(env, "plugins", "enable", "automation")
    run_crm(env, "users", "create", "admin@example.com", "--password", PASSWORD, "--role",
            "admin")  # fmt: skip
    target = f"http://127.0.0.1:{example_receiver.server_address[1]}/crm"
    with serving(env, port) as base:
        token = api(base, "POST", "/api/v1/auth/token",
                    {"email": "admin@example.com", "password": PASSWORD})["token"]  # fmt: skip
        api(base, "PATCH", "/api/v1/settings", {"webhook_allowed_hosts": ["127.0.0.1"]}, token)
        hook = api(base, "POST", "/api/v1/webhooks",
                   {"name": "Receiver", "url": target, "entities": "contacts"}, token)  # fmt: skip
        example_receiver.secret = hook["signing_secret"]
        contact = api(base, "POST", "/api/v1/contacts",
                      {"first_name": "Ana", "last_name": "Gil"}, token)  # fmt: skip
        deadline = time.monotonic() + 30
        while not example_receiver.accepted and time.monotonic() < deadline:
            time.sleep(0.2)
    [event] = example_receiver.accepted
    assert event["type"] == "contact.created" and event["data"]["id"] == contact["id"]
    assert example_receiver.refused == 0
    headers, body = example_receiver.raw[0]
    # a changed body, a forged signature, an old timestamp: each refused
    assert _post(target, headers, body.replace(b"Ana", b"Eva")) == 401
    assert _post(target, {**headers, "X-CRM-Signature": "v1=" + "0" * 64}, body) == 401
    old = {**headers, "X-CRM-Timestamp": str(int(time.time()) - 3600)}
    assert _post(target, old, body) == 401
    assert example_receiver.refused == 3
    # the untouched request is authentic but already processed: accepted once only
    assert _post(target, headers, body) == 204
    assert len(example_receiver.accepted) == 1
