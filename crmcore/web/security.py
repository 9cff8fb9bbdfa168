"""Cookies, CSRF, security headers and safe redirects of the web pages."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, request
from flask_wtf.csrf import CSRFProtect

API_PREFIX = "/api/"

#: The policy of every page: no inline script or style, nothing from elsewhere, no framing.
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; "
    "object-src 'none'; frame-ancestors 'none'"
)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def is_api_path(path: str | None = None) -> bool:
    """Whether ``path`` (default: the current request's) belongs to the bearer-token API."""
    return (path if path is not None else request.path).startswith(API_PREFIX)


def cookie_config(base_url: str) -> dict[str, Any]:
    """Flask and Flask-Login cookie settings: ``Secure`` exactly when the CRM is served on https."""
    secure = urlsplit(base_url).scheme == "https"
    return {
        "SESSION_COOKIE_NAME": "crm_session",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": secure,
        "REMEMBER_COOKIE_NAME": "crm_remember",
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": secure,
        "REMEMBER_COOKIE_DURATION": 30 * 24 * 3600,
        "REMEMBER_COOKIE_REFRESH_EACH_REQUEST": False,
        "WTF_CSRF_CHECK_DEFAULT": False,  # checked below for pages only, never for /api/
        "WTF_CSRF_TIME_LIMIT": None,  # tied to the session, which is renewed at sign-in
        "WTF_CSRF_SSL_STRICT": secure,
    }


def init_security(app: Flask) -> CSRFProtect:
    """CSRF on every unsafe request to a page; security headers on every page."""
    csrf = CSRFProtect(app)

    @app.before_request
    def _check_csrf() -> None:
        if request.method not in SAFE_METHODS and not is_api_path():
            view = app.view_functions.get(request.endpoint or "")
            if not getattr(view, "crm_csrf_exempt", False):
                csrf.protect()

    app.after_request(page_headers)
    return csrf


def page_headers(response: Response) -> Response:
    """Headers of every non-API answer (the API sets its own in ``crmcore.api``)."""
    if is_api_path():
        return response
    headers = response.headers
    headers.setdefault("Content-Security-Policy", PAGE_CSP)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if response.mimetype == "text/html":
        headers.setdefault("Cache-Control", "no-store")
        headers.add("Vary", "HX-Request")
    return response


def public(view: Any) -> Any:
    """Mark a page as reachable without signing in (every other page needs a user)."""
    view.crm_public = True
    return view


def csrf_exempt(view: Any) -> Any:
    """Let a page take unsafe requests without a CSRF token.

    Only for public forms that other sites post to (a web-to-lead form on a company website),
    which have nothing of the visitor's session to abuse; protect them otherwise (rate limit,
    honeypot field) and document each one.
    """
    view.crm_csrf_exempt = True
    return view


def safe_next(target: str | None, default: str = "/") -> str:
    """``target`` when it is a path on this site, else ``default`` (no open redirects).

    Refuses absolute and scheme-relative URLs (``https://evil``, ``//evil``), backslash tricks
    (``/\\evil``, which browsers read as ``//evil``) and control characters.
    """
    if not target or len(target) > 2000:
        return default
    if any(ord(c) < 32 or c == "\\" for c in target):
        return default
    if not target.startswith("/") or target.startswith("//"):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target
