"""Languages of the web pages: Flask-Babel with a per-user locale (English and Spanish)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from flask import Flask, g, request, session
from flask_babel import Babel, gettext
from flask_babel import lazy_gettext as _l

TRANSLATIONS = Path(__file__).parent / "translations"
#: Locale code -> the language's own name, as shown in the language switch.
LANGUAGES = {"en": "English", "es": "Español"}
DEFAULT_LOCALE = "en"


def select_locale() -> str:
    """The signed-in user's locale; else the one chosen in this session; else the browser's."""
    user = g.get("crm_user")
    if user is not None and user.locale in LANGUAGES:
        return str(user.locale)
    chosen = session.get("locale")
    if chosen in LANGUAGES:
        return str(chosen)
    instance = instance_language()  # the instance's default language, when one is set
    if instance:
        return instance
    return request.accept_languages.best_match(list(LANGUAGES)) or DEFAULT_LOCALE


def instance_language() -> str:
    """The instance's default language (a setting), or ``""`` to follow the browser."""
    from ..settings import language

    chosen = language()
    return chosen if chosen in LANGUAGES else ""


def contact_locale(app: Flask, contact: Any) -> str:
    """The language to write to ``contact`` in: theirs when set, else the instance's default
    (the ``language`` setting, else ``BABEL_DEFAULT_LOCALE``). Use it with
    ``flask_babel.force_locale`` for mail and documents.
    """
    chosen = getattr(contact, "locale", None)
    if chosen in LANGUAGES:
        return str(chosen)
    from ..settings import language

    default = language(app.extensions.get("crm")) or app.config.get(
        "BABEL_DEFAULT_LOCALE", DEFAULT_LOCALE
    )
    return str(default) if default in LANGUAGES else DEFAULT_LOCALE


def select_timezone() -> str:
    user = g.get("crm_user")
    return str(user.timezone) if user is not None and user.timezone else "UTC"


def init_i18n(app: Flask, plugin_dirs: list[Path] | None = None) -> Babel:
    """Set up Flask-Babel. Each plugin's ``translations/`` folder (found by convention in its
    package, domain ``messages``) is merged with the core catalogue."""
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LOCALE)
    folders = [TRANSLATIONS, *(d for d in plugin_dirs or () if d.is_dir())]
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = ";".join(str(f) for f in folders)
    app.config["BABEL_DOMAIN"] = "messages"
    return Babel(app, locale_selector=select_locale, timezone_selector=select_timezone)


def humanise(name: str) -> str:
    """``first_name`` -> ``First name``; ``company_id`` -> ``Company``."""
    text = re.sub(r"_id$", "", name).replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def label(name: str) -> str:
    """The translated label of a field name (the catalogue has the core fields' labels)."""
    return gettext(humanise(name))


def translate(message: str) -> str:
    """A message from elsewhere (validation, errors): translated when the catalogue has it."""
    return gettext(message)


#: Labels and messages produced at run time, listed so that extraction finds them.
FIELD_LABELS = (
    _l("Id"),
    _l("Created at"),
    _l("Updated at"),
    _l("Name"),
    _l("First name"),
    _l("Last name"),
    _l("Title"),
    _l("Email"),
    _l("Phone"),
    _l("Mobile"),
    _l("Company"),
    _l("Owner"),
    _l("Tags"),
    _l("Street"),
    _l("City"),
    _l("Region"),
    _l("Postal code"),
    _l("Country"),
    _l("Domain"),
    _l("Website"),
    _l("Industry"),
    _l("Description"),
    _l("Source"),
    _l("Timezone"),
    _l("Locale"),
    _l("Email opt out"),
    _l("Email opt out at"),
    _l("Email opt out source"),
    _l("Consent at"),
    _l("Consent source"),
    _l("Best time from"),
    _l("Best time to"),
    _l("Body"),
    _l("Status"),
    _l("Priority"),
    _l("Assignee"),
    _l("Due at"),
    _l("Reminder at"),
    _l("Completed at"),
    _l("Record type"),
    _l("Record"),
    _l("Role"),
    _l("Active"),
    _l("Locale"),
    _l("Password"),
    _l("Label"),
    _l("Type"),
    _l("Required"),
    _l("Entity"),
    _l("Position"),
    _l("Choices"),
    _l("Subject"),
    _l("Kind"),
    _l("Direction"),
    _l("Occurred at"),
    _l("Duration minutes"),
    _l("Outcome"),
    _l("Filename"),
    _l("Contacts"),
    _l("Companies"),
    _l("Tasks"),
    _l("Notes"),
    _l("Users"),
    _l("Roles"),
    _l("Teams"),
    _l("Contact"),
    _l("Note"),
    _l("Task"),
    _l("User"),
    _l("Team"),
    _l("Custom field"),
    _l("Custom fields"),
    _l("Activity"),
    _l("Activities"),
    _l("Attachment"),
    _l("Attachments"),
    _l("Call"),
    _l("Meeting"),
    _l("Change"),
    _l("Create"),
    _l("Update"),
    _l("Restore"),
    _l("Delete"),
    _l("Emails"),
    _l("Phones"),
    _l("Addresses"),
    _l("Not a valid e-mail address."),
    _l("Not a valid phone number."),
    _l("Missing data for required field."),
    _l("Not a valid integer."),
    _l("Not a valid date."),
    _l("Not a valid datetime."),
    _l("Not a valid number."),
    _l("Not a valid boolean."),
    _l("Give at least a name or an e-mail address."),
    _l("No such company."),
    _l("No such user."),
    _l("You may not assign records to this user."),
    _l("Use at least 12 characters."),
    _l("Use a less repetitive password."),
    _l("Shorter than minimum length 1."),
    _l("Not a valid time."),
    _l("Not a valid URL."),
    _l("Not a valid ISO country code (two letters, e.g. ES)."),
    _l("Not a valid time zone (e.g. Europe/Madrid)."),
)
