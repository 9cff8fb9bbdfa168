"""Absolute links to this instance, built from its public address - never from the request's
``Host`` header (a forged ``Host`` would reach cached pages, mail and whoever they are shown to).
"""

from __future__ import annotations

from typing import Any

from flask import url_for


def base_url() -> str:
    """The address links start with, without a trailing slash: ``CRM_BASE_URL``, else the
    instance's *Public address* setting, else the address ``crm serve`` listens on
    (:func:`crmcore.settings.base_url`)."""
    from .app import current_crm
    from .settings import base_url as public_address

    return public_address(current_crm())


def absolute_url_for(endpoint: str, **values: Any) -> str:
    """``url_for(endpoint, **values)`` on :func:`base_url`."""
    return base_url() + url_for(endpoint, **values)
