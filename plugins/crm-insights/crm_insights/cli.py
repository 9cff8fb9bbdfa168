"""``crm insights export | schema | rollup ...``: the group; its commands (``commands.py``)
are imported only when one runs, so ``crm --help`` stays fast."""

from __future__ import annotations

from crmcore.cli import LazyGroup

insights = LazyGroup(
    name="insights",
    help="Insights: analytics export, report rollups.",
    lazy_subcommands={
        "export": "crm_insights.commands:export_command",
        "schema": "crm_insights.commands:schema_command",
        "rollup": "crm_insights.commands:rollup",
    },
)
