"""Shared fixtures of the insights tests (crmcore's pytest plugin provides the rest)."""
