"""Test kit for crmcore and its plugins; the fixtures live in ``crmcore.testing.plugin``."""

from .plugin import PASSWORD, ApiClient, build_app

__all__ = ["PASSWORD", "ApiClient", "build_app"]
