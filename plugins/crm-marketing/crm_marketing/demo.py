"""Demo data of the marketing plugin (work in progress)."""

from __future__ import annotations

from typing import Any


def create_demo(ctx: Any) -> None:
    return None
