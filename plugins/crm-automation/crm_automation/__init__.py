"""Automation: a first-party crmcore plugin (entry point ``automation``)."""
