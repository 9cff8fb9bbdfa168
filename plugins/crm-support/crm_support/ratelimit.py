"""Rate limits of the public pages, on the app's Flask-Limiter storage (memory or Redis)."""

from __future__ import annotations

from flask import request
from limits import parse

from crmcore import current_crm

#: Failed portal sign-ins per address and per account; public form posts per address.
PORTAL_LOGIN = "10 per minute"
PUBLIC_FORM = "5 per hour"


def allow(name: str, rate: str, key: str | None = None) -> bool:
    """Count one hit against ``rate`` for ``name`` and ``key`` (default: the client address);
    ``False`` once the limit is used up."""
    limiter = current_crm().limiter.limiter
    return bool(limiter.hit(parse(rate), "support", name, key or request.remote_addr or "-"))


def exhausted(name: str, rate: str, key: str | None = None) -> bool:
    """Whether the limit is used up, without counting a hit."""
    limiter = current_crm().limiter.limiter
    return not limiter.test(parse(rate), "support", name, key or request.remote_addr or "-")
