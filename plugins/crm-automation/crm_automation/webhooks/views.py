"""The blueprint of the webhook pages' extras: it makes the plugin's templates
(``templates/automation/``) findable and serves the panels' stylesheet; the pages themselves
come from the entity registry."""

from __future__ import annotations

from flask import Blueprint


def make_blueprint() -> Blueprint:
    """A blueprint without routes of its own: templates and ``static/webhooks.css``."""
    return Blueprint(
        "automation_webhooks",
        "crm_automation",
        url_prefix="/automation/webhooks",
        template_folder="templates",
        static_folder="static",
        static_url_path="/static",
    )
