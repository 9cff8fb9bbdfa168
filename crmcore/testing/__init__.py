"""Test kit for crmcore and its plugins; the fixtures live in ``crmcore.testing.plugin``."""

from .plugin import (
    PASSWORD,
    ApiClient,
    assert_plugin_migrates_and_survives_disable,
    build_app,
    empty_database,
)
from .references import assert_references_scoped

__all__ = [
    "PASSWORD",
    "ApiClient",
    "assert_plugin_migrates_and_survives_disable",
    "assert_references_scoped",
    "build_app",
    "empty_database",
]
