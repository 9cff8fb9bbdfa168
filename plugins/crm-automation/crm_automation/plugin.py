"""The automation plugin: ``PLUGIN`` and its hooks. Thin on purpose: each hook returns what the
modules beside it define."""

from __future__ import annotations

from crmcore import Plugin

PLUGIN = Plugin(
    name="automation",
    title="Automation",
    version="0.1.0",
    requires=["contacts"],
    core=">=1,<2",
    description="Workflow rules, scheduled alerts, message sequences and signed webhooks.",
)
