"""Insights: a first-party crmcore plugin (entry point ``insights``)."""
