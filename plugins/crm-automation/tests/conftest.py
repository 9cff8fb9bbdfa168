"""Shared fixtures of the automation tests (crmcore's pytest plugin provides the rest)."""
