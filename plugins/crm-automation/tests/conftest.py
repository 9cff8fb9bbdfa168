"""Shared fixtures of the automation tests (crmcore's pytest plugin provides the rest)."""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest


@pytest.fixture(scope="session")
def crm_extra_plugins() -> list[str | ModuleType]:
    """The test plugin beside this file (actions, a trigger kind and an action kind)."""
    path = Path(__file__).with_name("automation_testplugin.py")
    spec = importlib.util.spec_from_file_location("automation_testplugin", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return [module]


@pytest.fixture
def make_rule(crm: Any, admin: Any) -> Callable[..., Any]:
    """``make_rule(trigger, actions, service=None, **fields)``: a rule on contacts, made (and
    owned) by an administrator unless another record ``service`` is given."""
    from crmcore.permissions import Access

    def make(trigger: Any, actions: list[Any], service: Any = None, **fields: Any) -> Any:
        data = {"name": "Rule", "entity": "contacts", "trigger": trigger, "actions": actions,
                **fields}  # fmt: skip
        return (service or crm.records(Access.for_user(admin))).create("workflows", data)

    return make


@pytest.fixture
def runs(crm: Any) -> Callable[..., list[Any]]:
    """``runs(rule)``: the rule's runs, oldest first."""
    from sqlalchemy import select

    from crm_automation.models import AutomationRun

    def get(rule: Any) -> list[Any]:
        crm.session.expire_all()
        query = select(AutomationRun).where(AutomationRun.workflow_id == rule.id)
        return list(crm.session.scalars(query.order_by(AutomationRun.id)))

    return get
@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A real HTTP server on 127.0.0.1 that records the requests it gets.

    ``status`` is answered to each request (or ``answers``, popped one per request); a
    ``(status, location)`` pair answers a redirect.
    """

    port: int = 0
    status: int = 200
    answers: list[Any] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)
    #: client ports of the connections the requests came on
    connections: set[int] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver on a free port of 127.0.0.1."""
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keeps connections open, as most receivers do

        def do_POST(self) -> None:
            state.connections.add(self.client_address[1])
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            state.requests.append(Received(self.path, dict(self.headers.items()), body))
            answer = state.answers.pop(0) if state.answers else state.status
            status, location = answer if isinstance(answer, tuple) else (answer, None)
            self.send_response(status)
            if location:
                self.send_header("Location", location)
            text = f"answer {status}".encode()
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            self.wfile.write(text)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def allow_hosts(session: Any) -> Callable[..., None]:
    """``allow_hosts("127.0.0.1")``: set the instance's webhook allow-list."""
    from crmcore.settings import Setting, forget_settings

    def allow(*hosts: str) -> None:
        row = session.get(Setting, "webhook_allowed_hosts")
        if row is None:
            session.add(Setting(key="webhook_allowed_hosts", value=list(hosts)))
        else:
            row.value = list(hosts)
        session.commit()
        forget_settings()

    return allow


@pytest.fixture
def make_webhook(records: Any, admin: Any) -> Callable[..., Any]:
    """``make_webhook(url, **fields)``: an active webhook on contacts, owned by ``admin``."""

    def make(url: str, **fields: Any) -> Any:
        data = {"name": "Test hook", "url": url, "entities": "contacts", "owner_id": admin.id,
                **fields}  # fmt: skip
        return records.create("webhooks", data)

    return make
