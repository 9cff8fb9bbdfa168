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


class Connections:
    """Open connections kept between the attempts of one batch, per checked address.

    A connection is reused only for the same scheme, host name, port *and* checked address,
    so the SSRF check of each attempt still decides where the request goes. Close it at the
    end of the batch (it is a context manager).
    """

    #: response bytes read to keep a connection reusable; a longer answer closes it
    DRAIN = 65536

    def __init__(self) -> None:
        self._open: dict[tuple[str, str, int, str], http.client.HTTPConnection] = {}

    def take(self, target: Target, timeout: float) -> tuple[http.client.HTTPConnection, bool]:
        """A connection to ``target``: ``(connection, reused)``."""
        key = (target.scheme, target.host, target.port, target.address)
        connection = self._open.pop(key, None)
        if connection is not None:
            return connection, True
        if target.scheme == "https":
            return _PinnedHTTPS(target, timeout, ssl.create_default_context()), False
        return _PinnedHTTP(target, timeout), False

    def give_back(self, target: Target, connection: http.client.HTTPConnection) -> None:
        key = (target.scheme, target.host, target.port, target.address)
        old = self._open.pop(key, None)
        if old is not None:
            old.close()
        self._open[key] = connection

    def close(self) -> None:
        for connection in self._open.values():
            connection.close()
        self._open.clear()

    def __enter__(self) -> Connections:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def post(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    allowed_hosts: Iterable[str] = (),
    resolver: Resolver = system_resolver,
    timeout: float = TIMEOUT,
    connections: Connections | None = None,
) -> Response:
    """POST ``body`` to ``url``; never raises for network trouble (it is in ``error``).

    With ``connections``, a kept-alive connection to the same checked address is reused.
    """
    started = time.monotonic()
    allowed = tuple(allowed_hosts)
    current = url
    for _hop in range(MAX_REDIRECTS + 1):
        try:
            target = check(current, allowed, resolver)
        except RefusedURL as exc:
            return Response(None, "", f"Refused: {exc}"[:500], _ms(started))
        try:
            status, location, excerpt = _send(target, body, headers, timeout, connections)
        except (OSError, http.client.HTTPException) as exc:
            return Response(None, "", f"{type(exc).__name__}: {exc}"[:500], _ms(started))
        if status in (301, 302, 303, 307, 308) and location:
            current = urljoin(current, location)
            continue
        return Response(status, excerpt, "", _ms(started))
    return Response(None, "", "Too many redirects.", _ms(started))


def _send(
    target: Target,
    body: bytes,
    headers: Mapping[str, str],
    timeout: float,
    connections: Connections | None,
) -> tuple[int, str, str]:
    pool = connections or Connections()
    connection, reused = pool.take(target, timeout)
    try:
        answer = _exchange(connection, target, body, headers)
    except (OSError, http.client.HTTPException):
        connection.close()
        if not reused:
            raise
        # the receiver closed a kept-alive connection meanwhile: once more, on a new one
        connection, _reused = Connections().take(target, timeout)
        try:
            answer = _exchange(connection, target, body, headers)
        except BaseException:
            connection.close()
            raise
    status, location, excerpt, keep = answer
    if keep and connections is not None:
        connections.give_back(target, connection)
    else:
        connection.close()
    return status, location, excerpt


def _exchange(
    connection: http.client.HTTPConnection,
    target: Target,
    body: bytes,
    headers: Mapping[str, str],
) -> tuple[int, str, str, bool]:
    """One request on ``connection``: status, Location, the excerpt, whether it stays usable."""
    connection.putrequest("POST", target.path, skip_host=True, skip_accept_encoding=True)
    connection.putheader("Host", target.host_header)
    connection.putheader("User-Agent", USER_AGENT)
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Content-Length", str(len(body)))
    for name, value in headers.items():
        connection.putheader(name, value)
    connection.endheaders(body)
    response = connection.getresponse()
    excerpt = response.read(EXCERPT_BYTES)
    rest = response.read(Connections.DRAIN) if not response.isclosed() else b""
    keep = response.isclosed() and not response.will_close and len(rest) < Connections.DRAIN
    location = response.getheader("Location") or ""
    return response.status, location, excerpt.decode("utf-8", "replace"), keep


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
