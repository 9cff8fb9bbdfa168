"""Absolute links to this instance, built from its configured address - never from the
request's ``Host`` header where the answer may be cached (a forged ``Host`` would otherwise be
served to everyone from the cache).

One small place on purpose: when the instance setting "public base URL" exists, point
:func:`base_url` at it.
"""

from __future__ import annotations

from typing import Any

from flask import has_request_context, request, url_for


def base_url(*, cacheable: bool) -> str:
    """The address links start with, without a trailing slash.

    ``CRM_BASE_URL`` (``base_url`` in ``crm.toml``) when configured. Otherwise the address the
    current request came to - but only for answers that are not cached: for a cacheable one the
    answer is ``""`` and links stay root-relative. Outside a request, the default ``base_url``.
    """
    from .app import current_crm

    settings = current_crm().settings
    if settings.base_url_given:
        return str(settings.base_url).rstrip("/")
    if not has_request_context():
        return str(settings.base_url).rstrip("/")  # mail and jobs: the default address
    if cacheable:
        return ""
    return request.host_url.rstrip("/")


def absolute_url_for(endpoint: str, *, cacheable: bool, **values: Any) -> str:
    """``url_for(endpoint, **values)`` on :func:`base_url`."""
    return base_url(cacheable=cacheable) + url_for(endpoint, **values)
