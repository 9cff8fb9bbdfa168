"""The blueprint of the webhook pages' extras: it only makes the plugin's templates
(``templates/automation/``) findable; the pages themselves come from the entity registry."""

from __future__ import annotations

from flask import Blueprint


def make_blueprint() -> Blueprint:
    """A blueprint without routes, carrying the template folder."""
    return Blueprint("automation_webhooks", "crm_automation", template_folder="templates")
