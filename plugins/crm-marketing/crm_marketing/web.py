"""Marketing pages: web (work in progress)."""

from __future__ import annotations

from flask import Blueprint


def make_blueprint() -> Blueprint:
    return Blueprint("marketing_web", __name__, url_prefix="/marketing/web")
