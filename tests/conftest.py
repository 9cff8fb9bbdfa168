from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from crmcore.testing import empty_database


@pytest.fixture(scope="session")
def crm_extra_plugins():
    """Test plugins that live in tests/ rather than being installed."""
    return ["plugin_widgets", "plugin_everyhook"]


@pytest.fixture
def fresh_database(crm_database_url: str, tmp_path: Path) -> Iterator[str]:
    """An empty database on the backend the tests run on (dropped afterwards)."""
    with empty_database(crm_database_url) as url:
        yield url
