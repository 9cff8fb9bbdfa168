"""The insights plugin: ``PLUGIN`` and its hooks. Thin on purpose: each hook returns what the
modules beside it define."""

from __future__ import annotations

from crmcore import Plugin

PLUGIN = Plugin(
    name="insights",
    title="Insights",
    version="0.1.0",
    requires=["contacts"],
    core=">=1,<2",
    description=(
        "A report builder over every entity, scheduled reports and predictions from customer "
        "history."
    ),
)
