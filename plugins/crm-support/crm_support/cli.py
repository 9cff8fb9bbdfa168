"""``crm support ingest | fetch-mail | check-sla``: the group; its commands (``commands.py``)
are imported only when one runs, so ``crm --help`` stays fast."""

from __future__ import annotations

from crmcore.cli import LazyGroup

support = LazyGroup(
    name="support",
    help="Support desk: inbound mail and SLA checks.",
    lazy_subcommands={
        "ingest": "crm_support.commands:ingest",
        "fetch-mail": "crm_support.commands:fetch_mail",
        "check-sla": "crm_support.commands:check_sla",
    },
)
