"""Record panels of the marketing plugin (work in progress)."""

from __future__ import annotations

from typing import Any


def panels() -> list[Any]:
    return []
