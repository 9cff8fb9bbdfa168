"""Fixtures of the marketing tests."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent
# the suite runs with --import-mode=importlib: make the helper modules beside this importable,
# after the core's tests folder (a test_web.py here must not shadow the core's)
if str(HERE) not in sys.path:
    sys.path.append(str(HERE))


def pytest_collection_modifyitems(items: list[Any]) -> None:
    """Every test of this folder runs with the plugin enabled, unless it says otherwise."""
    for item in items:
        if HERE in Path(item.path).parents and not item.get_closest_marker("crm_plugins"):
            item.add_marker(pytest.mark.crm_plugins("marketing"))


@pytest.fixture
def marketer(make_user: Any) -> Any:
    return make_user("marketer")
