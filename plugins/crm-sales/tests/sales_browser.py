"""Fixtures of the sales browser stories: an instance with sales enabled, served by `crm serve`,
a sales rep, one Chromium per module, and a page signed in as the rep at 1280 and 375 px.

A story module imports them: ``from sales_browser import PASSWORD, page, server``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from crmcore.testing.browser import (
    WIDTHS,
    api,
    free_port,
    instance_env,
    run_crm,
    serving,
    signed_in_page,
)

PASSWORD = "Browser-test-password-1"
REP = "rep@example.com"


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, instance_database: str | None
) -> Iterator[dict[str, Any]]:
    """An instance with sales enabled, served by `crm serve`, and a sales rep's API token."""
    port = free_port()
    env = instance_env(tmp_path_factory.mktemp("sales-browser"), port, instance_database)
    run_crm(env, "init")
    run_crm(env, "plugins", "enable", "sales")
    run_crm(env, "users", "create", REP, "--password", PASSWORD, "--role", "sales_rep")
    with serving(env, port) as base:
        token = api(base, "POST", "/api/v1/auth/token", {"email": REP, "password": PASSWORD})
        yield {"base": base, "token": token["token"]}


@pytest.fixture(params=WIDTHS)
def page(crm_browser: Any, server: dict[str, Any], request: pytest.FixtureRequest) -> Iterator[Any]:
    """A page signed in as the rep; fails the test on script errors and CSP violations."""
    with signed_in_page(crm_browser, server["base"], REP, PASSWORD, request.param) as page:
        yield page
