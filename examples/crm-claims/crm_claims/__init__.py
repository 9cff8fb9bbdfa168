"""Warranty claims: a crmcore plugin (entry point ``claims``)."""
