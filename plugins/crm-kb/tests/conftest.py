"""Shared helpers of the kb tests: articles made through the record service."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest


@pytest.fixture
def make_article(records: Any) -> Callable[..., Any]:
    """``make_article(title, **fields)``: a published public English article unless told."""

    def make(title: str = "How to reset a password", **fields: Any) -> Any:
        data = {"title": title, "body": f"Body of {title}.", "status": "published",
                "visibility": "public", **fields}  # fmt: skip
        return records.create("articles", data)

    return make


def _csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


@pytest.fixture
def csrf_token() -> Callable[[str], str]:
    """``csrf_token(html)``: the CSRF token of a page's form."""
    return _csrf_token


@pytest.fixture
def sign_in() -> Callable[[Any, Any], None]:
    """``sign_in(client, user)``: sign a test client in through the login form."""
    return _sign_in


def _sign_in(client: Any, user: Any) -> None:
    from crmcore.testing import PASSWORD

    token = _csrf_token(client.get("/login").get_data(as_text=True))
    r = client.post("/login", data={"csrf_token": token, "email": user.email, "password": PASSWORD})
    assert r.status_code in (302, 303), r.status_code
