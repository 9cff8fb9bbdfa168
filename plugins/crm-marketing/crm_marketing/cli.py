"""``crm marketing ...``: the command group; each command lives with the logic it drives and is
imported only when it runs, so ``crm --help`` stays fast."""

from __future__ import annotations

from crmcore.cli import LazyGroup

marketing = LazyGroup(
    name="marketing",
    help="Marketing: static lists, sending, bounces.",
    lazy_subcommands={
        "import-list": "crm_marketing.segments:import_list_command",
        "send": "crm_marketing.sending:send_command",
        "resume": "crm_marketing.sending:resume_command",
        "requeue-unknown": "crm_marketing.sending:requeue_unknown_command",
        "bounces": "crm_marketing.bounces:bounces_command",
    },
)
