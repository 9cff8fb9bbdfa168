"""Fixtures of the sales tests: a default pipeline exists (from the migrations)."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest
from crm_sales.models import Pipeline, Stage
from sqlalchemy import select

from crmcore.testing.plugin import PASSWORD

# The browser stories' served instance, Chromium and signed-in page, for the modules that do not
# define their own. This folder goes at the end of sys.path, never before the core's tests.
if str(Path(__file__).parent) not in sys.path:
    sys.path.append(str(Path(__file__).parent))
from sales_browser import page, server  # noqa: F401


@pytest.fixture
def stages(session: Any) -> dict[str, Any]:
    """The stages of the default "Sales" pipeline by name."""
    pipeline = session.scalar(select(Pipeline).where(Pipeline.name == "Sales"))
    rows = session.scalars(select(Stage).where(Stage.pipeline_id == pipeline.id))
    return {stage.name: stage for stage in rows}


@pytest.fixture
def other_pipeline(records: Any) -> Any:
    """A second pipeline with two stages."""
    pipeline = records.create("pipelines", {"name": "Renewals", "position": 1})
    first = records.create(
        "stages", {"pipeline_id": pipeline.id, "name": "Due", "position": 0, "probability": 60}
    )
    records.create(
        "stages",
        {
            "pipeline_id": pipeline.id,
            "name": "Renewed",
            "position": 1,
            "probability": 100,
            "is_won": True,
        },
    )
    return first


def _csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


@pytest.fixture
def csrf_of() -> Any:
    """``csrf_of(html)``: the CSRF token of a page's forms."""
    return _csrf_of


@pytest.fixture
def web_client(app: Any) -> Any:
    """``web_client(user)``: a test client signed in through the login form."""

    def make(user: Any) -> Any:
        client = app.test_client()
        token = _csrf_of(client.get("/login").get_data(as_text=True))
        response = client.post(
            "/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token}
        )
        assert response.status_code == 303
        return client

    return make
