"""A real SMTP peer for tests: aiosmtpd on 127.0.0.1, keeping what it receives.

The ``smtp_peer`` fixture (in :mod:`crmcore.testing.plugin`) starts one and points the test
app's ``CRM_SMTP_URL`` at it for one test::

    def test_sends(smtp_peer, records):
        ...
        assert smtp_peer.parsed()[0]["Subject"] == "Hello"
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from .ports import free_port as free_port


class Inbox:
    """An aiosmtpd handler keeping what it received, and whether it came over TLS."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.event = threading.Event()
        self.url = ""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(
            {
                "mail_from": envelope.mail_from,
                "rcpt_tos": list(envelope.rcpt_tos),
                "data": envelope.content,
                "tls": server.transport.get_extra_info("ssl_object") is not None,
                "login": getattr(session, "login_data", None),
            }
        )
        self.event.set()
        return "250 Message accepted for delivery"

    def parsed(self) -> list[EmailMessage]:
        """The messages received so far, parsed."""
        return [
            message_from_bytes(m["data"], policy=policy.default)  # type: ignore[misc]
            for m in list(self.messages)
        ]

    def clear(self) -> None:
        self.messages.clear()
        self.event.clear()


class Authenticator:
    """Accepts one user name and password."""

    def __init__(self, user: str, password: str) -> None:
        self.user, self.password = user.encode(), password.encode()

    def __call__(
        self, server: Any, session: Any, envelope: Any, mechanism: Any, auth_data: Any
    ) -> Any:
        from aiosmtpd.smtp import AuthResult, LoginPassword

        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == self.user
            and auth_data.password == self.password
        )
        return AuthResult(success=ok, handled=False)


def start_smtp(
    *,
    implicit_tls: Any = None,
    starttls: Any = None,
    auth: tuple[str, str] | None = None,
    handler: Inbox | None = None,
) -> tuple[Any, Inbox]:
    """Start an aiosmtpd server on 127.0.0.1; returns (controller, inbox). Stop it after.

    ``handler`` replaces the plain :class:`Inbox` (a subclass that counts, delays or refuses).
    """
    from aiosmtpd.controller import Controller

    inbox = handler or Inbox()
    kwargs: dict[str, Any] = {}
    if implicit_tls is not None:
        kwargs["ssl_context"] = implicit_tls
    if starttls is not None:
        kwargs.update(tls_context=starttls, require_starttls=True)
    if auth is not None:
        kwargs.update(
            authenticator=Authenticator(*auth),
            auth_required=True,
            auth_require_tls=starttls is not None,
        )
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    scheme = "smtps" if implicit_tls is not None else "smtp"
    inbox.url = f"{scheme}://127.0.0.1:{port}"
    return controller, inbox


@contextmanager
def sending_through(crm: Any, handler: Inbox | None = None) -> Iterator[Inbox]:
    """A peer (``handler``, else a plain :class:`Inbox`) that ``crm`` sends through while the
    block runs; its ``CRM_SMTP_URL`` is put back afterwards."""
    controller, inbox = start_smtp(handler=handler)
    before = crm.settings.smtp_url
    crm.settings.smtp_url = inbox.url
    try:
        yield inbox
    finally:
        crm.settings.smtp_url = before
        controller.stop()


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0, interval: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns something truthy (returned); fail after ``timeout``
    seconds. For tests that watch another process (a worker, a served instance)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")
