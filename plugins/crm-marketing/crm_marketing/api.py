"""The marketing REST endpoints beyond the generic ones, one blueprint per area."""

from __future__ import annotations

from typing import Any


def blueprints() -> list[Any]:
    """Segments (members, counts, static lists), templates (preview, test send), sending,
    direct-mail labels, bounces and results."""
    from . import content_api, results_api, segments_api, sending_api, tracking_api

    return [
        segments_api.blueprint(),
        content_api.blueprint(),
        sending_api.blueprint(),
        tracking_api.blueprint(),
        results_api.blueprint(),
    ]
