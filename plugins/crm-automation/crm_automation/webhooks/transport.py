"""One signed POST to a webhook URL, through the SSRF guard on every hop.

The connection goes to the address the guard checked (the name is resolved once per hop),
with the URL's host in the ``Host`` header and, for https, in SNI and the certificate check.
Redirects (301, 302, 303, 307, 308) are followed up to :data:`MAX_REDIRECTS` hops, each
checked again and each re-sent as the same signed POST.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urljoin

from .ssrf import RefusedURL, Resolver, Target, check, system_resolver

MAX_REDIRECTS = 3
TIMEOUT = 10.0
#: How much of a response body the delivery log keeps.
EXCERPT_BYTES = 1000
USER_AGENT = "crm-webhooks/1"


@dataclass(frozen=True)
class Response:
    """What one attempt got: the status (``None`` when no answer came) and what to log."""

    status: int | None
    excerpt: str
    error: str
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class _PinnedHTTP(http.client.HTTPConnection):
    """An HTTP connection to a fixed, already checked address."""

    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self._address = target.address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _PinnedHTTPS(http.client.HTTPSConnection):
    """An HTTPS connection to a fixed address, with SNI and certificate check for the name."""

    def __init__(self, target: Target, timeout: float, context: ssl.SSLContext) -> None:
        super().__init__(target.host, target.port, timeout=timeout, context=context)
        self._address = target.address
        self._ctx = context

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._ctx.wrap_socket(sock, server_hostname=self.host)


def post(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    allowed_hosts: Iterable[str] = (),
    resolver: Resolver = system_resolver,
    timeout: float = TIMEOUT,
) -> Response:
    """POST ``body`` to ``url``; never raises for network trouble (it is in ``error``)."""
    started = time.monotonic()
    allowed = tuple(allowed_hosts)
    current = url
    for _hop in range(MAX_REDIRECTS + 1):
        try:
            target = check(current, allowed, resolver)
        except RefusedURL as exc:
            return Response(None, "", f"Refused: {exc}"[:500], _ms(started))
        try:
            status, location, excerpt = _send(target, body, headers, timeout)
        except (OSError, http.client.HTTPException) as exc:
            return Response(None, "", f"{type(exc).__name__}: {exc}"[:500], _ms(started))
        if status in (301, 302, 303, 307, 308) and location:
            current = urljoin(current, location)
            continue
        return Response(status, excerpt, "", _ms(started))
    return Response(None, "", "Too many redirects.", _ms(started))


def _send(
    target: Target, body: bytes, headers: Mapping[str, str], timeout: float
) -> tuple[int, str, str]:
    connection: http.client.HTTPConnection
    if target.scheme == "https":
        connection = _PinnedHTTPS(target, timeout, ssl.create_default_context())
    else:
        connection = _PinnedHTTP(target, timeout)
    try:
        connection.putrequest("POST", target.path, skip_host=True, skip_accept_encoding=True)
        connection.putheader("Host", target.host_header)
        connection.putheader("User-Agent", USER_AGENT)
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", str(len(body)))
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.endheaders(body)
        response = connection.getresponse()
        excerpt = response.read(EXCERPT_BYTES).decode("utf-8", "replace")
        return response.status, response.getheader("Location") or "", excerpt
    finally:
        connection.close()


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
