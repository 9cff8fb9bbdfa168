"""``crm automation list | run RULE [--dry-run] | history RULE``: the group; its commands
(``commands.py``) are imported only when one runs, so ``crm --help`` stays fast."""

from __future__ import annotations

from crmcore.cli import LazyGroup

automation = LazyGroup(
    name="automation",
    help="Workflow rules: list them, run one now (or see what it would do), read its history.",
    lazy_subcommands={
        "list": "crm_automation.commands:list_command",
        "run": "crm_automation.commands:run_command",
        "history": "crm_automation.commands:history_command",
    },
)
