"""``CRM_SMTP_URL`` parsing.

Forms::

    smtp://host[:port]                    plain SMTP (port 25)
    smtp://host:587?starttls=1            upgrade with STARTTLS (required, never optional)
    smtp+starttls://host[:port]           the same (port 587)
    smtps://host[:port]                   implicit TLS (port 465)
    ...://user:password@host...           AUTH; user and password are URL-decoded
    ...?timeout=20                        socket timeout in seconds (default 30)
    ...?cafile=/path/ca.pem               trust this CA bundle besides the system's

TLS always verifies the server's certificate and host name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

from ..errors import CRMError

DEFAULT_PORTS = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}
TRUE = ("1", "true", "yes", "on")


class MailError(CRMError):
    """Mail could not be configured, built or handed over; the message never holds a password."""

    status = 502
    title = "Mail error"


@dataclass(frozen=True)
class SmtpConfig:
    """Where and how to hand mail over."""

    host: str
    port: int
    tls: str = "none"  # "none", "starttls" or "implicit"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 30.0
    cafile: str | None = None

    @property
    def safe_url(self) -> str:
        """The URL for messages and logs: the password is never shown."""
        scheme = {"none": "smtp", "starttls": "smtp+starttls", "implicit": "smtps"}[self.tls]
        user = f"{self.username}:***@" if self.username else ""
        return f"{scheme}://{user}{self.host}:{self.port}"


def parse_smtp_url(url: str) -> SmtpConfig:
    """Parse ``CRM_SMTP_URL``; raise :class:`MailError` naming what is wrong (not the password)."""
    try:
        parts = urlsplit(url.strip())
        port_value = parts.port
    except ValueError:
        raise MailError("CRM_SMTP_URL is not a valid URL (check the port)") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise MailError(
            f"CRM_SMTP_URL must start with smtp://, smtps:// or smtp+starttls://, "
            f"not {scheme or '(nothing)'}://"
        )
    if not parts.hostname:
        raise MailError("CRM_SMTP_URL names no host")
    query = {k.lower(): v[-1] for k, v in parse_qs(parts.query).items()}
    unknown = set(query) - {"starttls", "timeout", "cafile"}
    if unknown:
        raise MailError(f"CRM_SMTP_URL has unknown options: {', '.join(sorted(unknown))}")
    tls = {"smtp": "none", "smtp+starttls": "starttls", "smtps": "implicit"}[scheme]
    if query.get("starttls", "").lower() in TRUE:
        if tls == "implicit":
            raise MailError("CRM_SMTP_URL: smtps:// already uses TLS; drop starttls=1")
        tls = "starttls"
    try:
        timeout = float(query.get("timeout", 30))
    except ValueError:
        raise MailError("CRM_SMTP_URL: timeout must be a number of seconds") from None
    if timeout <= 0:
        raise MailError("CRM_SMTP_URL: timeout must be positive")
    port = port_value or (587 if tls == "starttls" and scheme == "smtp" else DEFAULT_PORTS[scheme])
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    return SmtpConfig(
        host=parts.hostname,
        port=port,
        tls=tls,
        username=username,
        password=password,
        timeout=timeout,
        cafile=query.get("cafile") or None,
    )
