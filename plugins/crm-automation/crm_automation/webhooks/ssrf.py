"""The SSRF guard: which addresses a webhook may reach.

Every host is resolved with the system resolver, which also reads the old spellings of IPv4
(``127.1``, ``2130706433``, ``0x7f.1``, ``0177.0.0.1``), and every address it yields is
classified with :mod:`ipaddress`: only globally routable unicast addresses pass, so loopback,
private, link-local (the cloud metadata service at 169.254.169.254 included), shared (CGNAT,
100.64/10), multicast, unspecified, reserved and documentation ranges are refused, in IPv4 and
IPv6, and IPv6 forms that embed an IPv4 address (``::ffff:127.0.0.1``, NAT64, 6to4, Teredo) are
judged by the embedded address. The caller connects to the very address that was checked
(:class:`Target`), so a DNS answer that changes between the check and the connection
(rebinding) cannot move the request elsewhere.

Hosts in the instance setting ``webhook_allowed_hosts`` skip the address check (an admin's
decision, e.g. a receiver on the same machine).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

#: The instance setting holding the allow-listed host names (lower case, no port).
ALLOWED_HOSTS_SETTING = "webhook_allowed_hosts"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
#: Cloud metadata services that are not in a range refused anyway (kept explicit for the
#: reader; each is also non-global).
METADATA = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "100.100.100.200", "192.0.0.192",
              "fd00:ec2::254")
)  # fmt: skip


class RefusedURL(ValueError):
    """A webhook URL that may not be called; ``str()`` names the URL and the reason.

    ``reason`` is an English message id with ``%(name)s`` placeholders filled from ``params``
    (``params["kind"]``, when present, is itself a message id), so pages can translate it.
    """

    def __init__(self, url: str, reason: str, **params: str) -> None:
        self.url = url
        self.reason = reason
        self.params = params
        super().__init__(f"{url}: {reason % params if params else reason}")


@dataclass(frozen=True)
class Target:
    """Where one request goes: the URL's parts and the checked address to connect to."""

    scheme: str
    host: str
    port: int
    path: str
    address: str

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (IPv4 and IPv6)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, NAT64, 6to4, Teredo), if any."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    # IPv4-compatible (deprecated ::a.b.c.d)
    if int(ip) >> 32 == 0 and int(ip) > 1:
        return ipaddress.IPv4Address(int(ip))
    return None


def refusal(ip: IPAddress) -> str | None:
    """Why a webhook may not connect to ``ip``, or ``None`` when it may."""
    inner = embedded_ipv4(ip)
    if inner is not None:
        return refusal(inner)
    if ip in METADATA:
        return "a cloud metadata address"
    for why, flag in (
        ("a loopback address", ip.is_loopback),
        ("an unspecified address", ip.is_unspecified),
        ("a link-local address", ip.is_link_local),
        ("a multicast address", ip.is_multicast),
        ("a private address", ip.is_private),
        ("a reserved address", ip.is_reserved),
    ):
        if flag:
            return why
    if isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local:
        return "a site-local address"
    if not ip.is_global:
        return "not a public address"
    return None


def parse(url: str) -> tuple[str, str, int, str]:
    """``(scheme, host, port, path?query)`` of an http(s) URL; raises :class:`RefusedURL`."""
    if not isinstance(url, str) or not url.strip():
        raise RefusedURL(str(url), "not a URL")
    if any(c.isspace() or ord(c) < 32 for c in url):
        raise RefusedURL(url, "contains spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise RefusedURL(url, "not a valid URL") from None
    if parts.scheme not in ("http", "https"):
        raise RefusedURL(url, "only http:// and https:// addresses are allowed")
    if parts.username is not None or parts.password is not None:
        raise RefusedURL(url, "user names and passwords in the address are not allowed")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise RefusedURL(url, "no host")
    if port == 0:
        raise RefusedURL(url, "not a valid port")
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return parts.scheme, host, port or (443 if parts.scheme == "https" else 80), path


def normalise_hosts(hosts: Iterable[str]) -> frozenset[str]:
    """Allow-listed host names as compared: lower case, brackets and trailing dot removed."""
    return frozenset(
        h.strip().strip("[]").rstrip(".").lower() for h in hosts if h and h.strip()
    )


def check(
    url: str,
    allowed_hosts: Iterable[str] = (),
    resolver: Resolver = system_resolver,
) -> Target:
    """The :class:`Target` of ``url`` after resolving its host and checking every address.

    Raises :class:`RefusedURL` when the URL is malformed, the host does not resolve, or any
    address it resolves to is refused (one bad answer is enough: the connection could go to it).
    """
    scheme, host, port, path = parse(url)
    try:
        addresses = resolver(host, port)
    except (OSError, UnicodeError):
        raise RefusedURL(url, "the host name does not resolve") from None
    if not addresses:
        raise RefusedURL(url, "the host name does not resolve")
    if host in normalise_hosts(allowed_hosts):
        return Target(scheme, host, port, path, addresses[0])
    for address in addresses:
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            raise RefusedURL(url, "unexpected address %(address)s", address=address) from None
        why = refusal(ip)
        if why is not None:
            raise RefusedURL(
                url,
                "%(host)s is %(kind)s (%(address)s), which webhooks may not call",
                host=host,
                kind=why,
                address=address,
            )
    return Target(scheme, host, port, path, addresses[0])
