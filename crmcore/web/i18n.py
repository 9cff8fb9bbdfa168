"""Languages of the web pages: Flask-Babel with a per-user locale (English and Spanish)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from flask import Flask, g, request, session
from flask_babel import Babel, get_translations, gettext, pgettext
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext as _lp
from jinja2 import pass_context
from markupsafe import escape
from marshmallow import fields, validate

TRANSLATIONS = Path(__file__).parent / "translations"
#: Locale code -> the language's own name, as shown in the language switch.
LANGUAGES = {"en": "English", "es": "Español"}
DEFAULT_LOCALE = "en"


def select_locale() -> str:
    """For the API, the client's ``Accept-Language`` (English when it names none we have). For
    pages, the signed-in user's locale; else the one chosen in this session; else the instance's
    language setting; else the browser's."""
    if request.path.startswith("/api/"):
        return request.accept_languages.best_match(list(LANGUAGES)) or DEFAULT_LOCALE
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
    babel = Babel(app, locale_selector=select_locale, timezone_selector=select_timezone)
    install_text_gettext(app)
    return babel


def _as_text(context: Any, translated: str, variables: dict[str, Any], always: bool) -> Any:
    """A translation as text: escaped like any other value (it may be a message that carries
    data - a role title, an error naming a column), then filled with escaped ``variables``."""
    text: Any = escape(translated) if context.eval_ctx.autoescape else translated
    if not variables and not always:
        return text  # "100% off" as a role title is text, not a format
    try:
        return text % variables
    except (KeyError, ValueError, TypeError):
        return text


def install_text_gettext(app: Flask) -> None:
    """Replace Jinja's ``_``/``gettext`` family (which marks every translation safe, so
    ``{{ _(value) }}`` would render the HTML of a value) with ones treating translations as
    text. Placeholders still work: ``{{ _("No %(what)s", what=name) }}`` escapes ``name``."""

    @pass_context
    def gettext_(context: Any, string: str, **variables: Any) -> Any:
        return _as_text(context, get_translations().ugettext(string), variables, False)

    @pass_context
    def ngettext_(context: Any, singular: str, plural: str, num: int, **variables: Any) -> Any:
        variables.setdefault("num", num)
        translated = get_translations().ungettext(singular, plural, num)
        return _as_text(context, translated, variables, True)

    @pass_context
    def pgettext_(context: Any, ctx: str, string: str, **variables: Any) -> Any:
        translated = get_translations().upgettext(ctx, string)
        return _as_text(context, translated, variables, False)

    @pass_context
    def npgettext_(
        context: Any, ctx: str, singular: str, plural: str, num: int, **variables: Any
    ) -> Any:
        variables.setdefault("num", num)
        translated = get_translations().unpgettext(ctx, singular, plural, num)
        return _as_text(context, translated, variables, True)

    app.jinja_env.globals.update(
        gettext=gettext_, ngettext=ngettext_, pgettext=pgettext_, npgettext=npgettext_
    )


def humanise(name: str) -> str:
    """``first_name`` -> ``First name``; ``company_id`` -> ``Company``; ``team_ids`` -> ``Teams``"""
    text = re.sub(r"_ids$", "s", name)
    text = re.sub(r"_id$", "", text).replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def label(name: str, entity: Any = None) -> str:
    """The translated label of a field name (the catalogues have every entity's labels).

    A label that means something else on one entity (a contact's *Title* is a job title) is
    looked up first in the entity's own context: ``pgettext(entity.name, "Title")``.
    """
    text = humanise(name)
    if entity is not None:
        specific = pgettext(entity.name, text)
        if specific != text:
            return specific
    return gettext(text)


#: Fields whose values are language codes, shown as the language's own name.
LANGUAGE_FIELDS = frozenset({"locale", "language"})


def choice_text(value: Any, name: str = "") -> str:
    """An enumerated value as people read it: ``in_progress`` -> "In progress", translated;
    a language code of a ``locale`` or ``language`` field as the language's name."""
    if name in LANGUAGE_FIELDS and value in LANGUAGES:
        return LANGUAGES[value]
    return gettext(humanise(str(value)))


def enum_choices(schema_field: fields.Field) -> list[str] | None:
    """The allowed values of a schema field with a ``OneOf`` validator (of a list's items too)."""
    if isinstance(schema_field, fields.List):
        schema_field = schema_field.inner
    for validator in getattr(schema_field, "validators", None) or ():
        if isinstance(validator, validate.OneOf):
            return [str(c) for c in validator.choices]
    return None


def plugin_translation_dirs(crm: Any) -> list[Path]:
    """The ``translations/`` folders of the installed plugins, merged with the core's."""
    return [
        p.path / "translations" for p in crm.plugins if not p.meta.builtin and p.path is not None
    ]


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
    _l("Value"),
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
    _l("No such record, or you may not read it."),
    _l("No such user."),
    _l("You may not assign records to this user."),
    _l("Use at least 12 characters."),
    _l("Use a less repetitive password."),
    _l("Shorter than minimum length 1."),
    _l("Not a valid time."),
    _l("Not a valid URL."),
    _l("Not a valid ISO country code (two letters, e.g. ES)."),
    _l("Not a valid time zone (e.g. Europe/Madrid)."),
    _l("Last login at"),
    _l("Grants"),
    _l("Content type"),
    _l("Size"),
    _l("Sha256"),
    _l("Members"),
    _l("Done"),
    _l("Cancelled"),
    _l("In"),
    _l("Out"),
    _l("Open"),
    _l("In progress"),
    _l("Too many tags: a record has at most 50."),
    _l("Tags are 1 to 50 characters."),
)

#: Problem titles and the record service's messages (``crmcore.errors``), translated where the
#: API and pages show them; verbs in the ``verb`` context fill "You may not %(action)s ...".
ERROR_MESSAGES = (
    _l("Bad request"),
    _l("Unauthorized"),
    _l("Forbidden"),
    _l("Not found"),
    _l("Conflict"),
    _l("Validation failed"),
    _l("Precondition failed"),
    _l("Payload too large"),
    _l("Unsupported media type"),
    _l("Too Many Requests"),
    _l("Method Not Allowed"),
    _l("Unprocessable Entity"),
    _l("The input has errors; see the errors of each field."),
    _l("Send JSON with Content-Type: application/json."),
    _l("The body is too large."),
    _l("The body is not valid JSON."),
    _l("The body nests deeper than 64 levels."),
    _l("The body holds an invalid character (a lone UTF-16 surrogate)."),
    _l("Every token expires: choose from 1 day up to the instance's limit (token_max_days)."),
    _l("You may not %(action)s %(things)s."),
    _l("You may not %(action)s this %(thing)s."),
    _l("No %(thing)s with id %(id)s."),
    _l("No entity called %(name)s."),
    _l("The record was changed by someone else; reload it and try again."),
    _l("A record with the same unique value already exists."),
    _l("A referenced record does not exist."),
    _lp("verb", "read"),
    _lp("verb", "create"),
    _lp("verb", "update"),
    _lp("verb", "delete"),
)

#: Labels whose meaning depends on the entity, in that entity's context.
CONTEXT_LABELS = (_lp("contact", "Title"),)

#: What happened to a record, as its history and timeline say it.
AUDIT_ACTIONS = {
    "create": _l("Created"),
    "update": _l("Changed"),
    "delete": _l("Moved to the trash"),
    "restore": _l("Restored"),
}
