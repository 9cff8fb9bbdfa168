"""``crm marketing ...``: the command group; each command lives with the logic it drives."""

from __future__ import annotations

import click


@click.group(help="Marketing: static lists, sending, bounces.")
def marketing() -> None:
    pass


def _register() -> None:
    from .bounces import bounces_command
    from .segments import import_list_command
    from .sending import requeue_unknown_command, resume_command, send_command

    for command in (
        import_list_command,
        send_command,
        resume_command,
        requeue_unknown_command,
        bounces_command,
    ):
        marketing.add_command(command)


_register()
