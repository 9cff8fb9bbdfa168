"""The language of mail to a contact: the contact's *Preferred language* when it is known,
else the instance's (``support_language`` in crm.toml, else the app's default locale).

The field is added to contacts by this plugin (``crm_entity_fields``), stored with the custom
fields: ``{"custom_fields": {"preferred_language": "es"}}``. It is filled in when a contact is
created from the web form (the page's language) or from mail (``Content-Language``).
"""

from __future__ import annotations

from typing import Any

from crmcore.contributions import ExtraField
from crmcore.web.i18n import DEFAULT_LOCALE, LANGUAGES

FIELD = "preferred_language"


def extra_field() -> ExtraField:
    return ExtraField("contacts", FIELD, "Preferred language", "choice", tuple(LANGUAGES))


def known(value: Any) -> str | None:
    """``es`` for ``es``, ``es-MX``, ``es_ES`` or ``es, en``; ``None`` for a language the CRM
    lacks."""
    if not isinstance(value, str):
        return None
    first = value.split(",", 1)[0].strip()  # Content-Language may list several
    code = first.replace("_", "-").split("-", 1)[0].lower()
    return code if code in LANGUAGES else None


def instance_locale(crm: Any) -> str:
    return (
        known(crm.settings.extra.get("support_language"))
        or known(crm.app.config.get("BABEL_DEFAULT_LOCALE"))
        or DEFAULT_LOCALE
    )


def contact_locale(crm: Any, contact: Any) -> str:
    """The language to write to ``contact`` in."""
    fields = getattr(contact, "custom_fields", None) or {}
    return known(fields.get(FIELD)) or instance_locale(crm)
