"""Sending campaigns (work in progress)."""

from __future__ import annotations

from typing import Any

import click


def tick(app: Any) -> None:
    return None


@click.command("send")
def send_command() -> None:
    """Send a campaign now."""


@click.command("resume")
def resume_command() -> None:
    """Resume sends whose worker died."""
