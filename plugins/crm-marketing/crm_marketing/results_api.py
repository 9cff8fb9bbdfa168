"""REST endpoints of the marketing plugin: results (work in progress)."""

from __future__ import annotations

from flask_smorest import Blueprint


def blueprint() -> Blueprint:
    return Blueprint("marketing_results", __name__, url_prefix="/api/v1", description="Marketing")
