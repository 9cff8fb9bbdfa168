"""Bounces (work in progress)."""

from __future__ import annotations

import click


@click.command("bounces")
def bounces_command() -> None:
    """Record bounces from DSN messages."""
