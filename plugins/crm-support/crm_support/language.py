"""The language of mail to a contact: the contact's ``locale`` when set, else the instance's
default (``crmcore.web.i18n.contact_locale``). Contacts created from mail take the language of
its ``Content-Language`` header, those created from the web form the language of the page."""

from __future__ import annotations

from typing import Any

from crmcore.web.i18n import LANGUAGES
from crmcore.web.i18n import contact_locale as _core_contact_locale


def known(value: Any) -> str | None:
    """``es`` for ``es``, ``es-MX``, ``es_ES`` or ``es, en``; ``None`` for a language the CRM
    lacks."""
    if not isinstance(value, str):
        return None
    first = value.split(",", 1)[0].strip()  # Content-Language may list several
    code = first.replace("_", "-").split("-", 1)[0].lower()
    return code if code in LANGUAGES else None


def instance_locale(crm: Any) -> str:
    """The instance's default language (``BABEL_DEFAULT_LOCALE``)."""
    return _core_contact_locale(crm.app, None)


def contact_locale(crm: Any, contact: Any) -> str:
    """The language to write to ``contact`` in."""
    return _core_contact_locale(crm.app, contact)
