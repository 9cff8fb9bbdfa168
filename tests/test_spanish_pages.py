"""Every list, detail and form page of every entity of every first-party plugin, in Spanish.

A page fails when it shows, outside record data, a text that the catalogues know in English
(a message id whose Spanish differs), or a field label or choice that has no Spanish at all.
"""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from babel.messages.mofile import read_mo
from flask_babel import force_locale

from crmcore.web.i18n import TRANSLATIONS, choice_text, humanise, label, plugin_translation_dirs

FIRST_PARTY = ("sales", "marketing", "support", "kb", "automation", "insights")

# layout, translations, docs and the scaffold do not depend on the database engine: run once
pytestmark = [pytest.mark.crm_plugins(*FIRST_PARTY), pytest.mark.crm_sqlite_only]

#: Words written the same in both languages.
SAME_IN_SPANISH = frozenset(
    {
        "Id",
        "Email",
        "Web",
        "Total",
        "Normal",
        "Slug",
        "SKU",
        "Html",
        "Url",
        "Sla",
        "Imap",
        "Smtp",
        "Pdf",
        "Csv",
        "No",
        "Error",
        "Local",
        "Global",
        "Chat",
        "Portal",
        "Ok",
        "Imap host",
        "Imap port",
        "Imap user",
        "Imap tls",
        "Imap folder",
        "Imap password",
        "Sku",
        "Iban",
        "Mime type",
        "Tag",
        "Tags",
        "Manual",
        "General",
        "Hardware",
        "Software",
        "Subtotal",
        "Ticket",
    }
)


class _Texts(HTMLParser):
    """Visible text nodes and the attributes people read (labels, titles, placeholders)."""

    SKIP = {"script", "style", "code", "pre", "textarea"}
    VOID = {
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "source",
        "track",
        "wbr",
    }
    READ_ATTRS = ("aria-label", "title", "placeholder", "alt")

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if self._skip:
            self._skip += tag not in self.VOID
            return
        # content that declares its own language (an article's body) is not the page's text
        if tag in self.SKIP or (tag != "html" and attributes.get("lang") not in (None, "es")):
            self._skip = 1
            return
        for name in self.READ_ATTRS:
            if attributes.get(name):
                self.texts.append(attributes[name].strip())
        if tag == "input" and attributes.get("type") == "submit" and attributes.get("value"):
            self.texts.append(attributes["value"].strip())

    def handle_endtag(self, tag):
        if self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip and data.strip():
            self.texts.append(" ".join(data.split()))


def english_messages(app) -> set[str]:
    """Message ids of every loaded catalogue whose Spanish text differs from the English."""
    folders = [TRANSLATIONS, *plugin_translation_dirs(app.extensions["crm"])]
    out: set[str] = set()
    for folder in folders:
        mo = folder / "es" / "LC_MESSAGES" / "messages.mo"
        if not mo.is_file():
            continue
        with mo.open("rb") as fh:
            for message in read_mo(fh):
                if isinstance(message.id, str) and message.id and message.string:
                    if message.string != message.id and len(message.id) > 1:
                        out.add(message.id)
    return out


@pytest.fixture
def demo_app(app):
    from crmcore.instance import create_demo

    create_demo(app.extensions["crm"], password="Demo-password-123")
    return app


def record_data(app) -> set[str]:
    """Texts that users typed (or demo data wrote): names, titles, stage names... Pages show
    them as they are, so they are not English left untranslated. Entities whose titles the
    catalogues translate (built-in roles) are not record data in that sense."""
    from sqlalchemy import String

    crm = app.extensions["crm"]
    records = crm.records()
    out: set[str] = set()
    for entity in _entities(app):
        if entity.translated_titles:
            continue
        names = [n for n, c in entity.columns.items() if isinstance(c.type, String)]
        for row in crm.session.scalars(records.query(entity).limit(500)):
            out |= {getattr(row, n) for n in names if isinstance(getattr(row, n), str)}
    return out


def _entities(app):
    crm = app.extensions["crm"]
    enabled = set(crm.enabled_plugins()) | set(crm.builtin_names)
    return [e for e in crm.registry if e.plugin in enabled]


def test_every_field_label_and_choice_has_spanish(demo_app):
    from crmcore.web.i18n import enum_choices

    missing = []
    with demo_app.test_request_context(), force_locale("es"):
        for entity in _entities(demo_app):
            schema = entity.full_schema
            for name, schema_field in schema._declared_fields.items():
                if name in ("custom_fields",):
                    continue
                text = humanise(name)
                if label(name, entity) == text and text not in SAME_IN_SPANISH:
                    missing.append(f"{entity.name}.{name}: label {text!r}")
                for choice in enum_choices(schema_field) or ():
                    shown = humanise(choice)
                    if choice_text(choice, name) == shown and shown not in SAME_IN_SPANISH:
                        missing.append(f"{entity.name}.{name}: choice {choice!r}")
    assert not missing, "no Spanish for:\n" + "\n".join(missing)


def test_every_page_of_every_entity_is_spanish(demo_app, make_user):
    from test_web import sign_in

    admin = make_user("admin", locale="es")
    client = demo_app.test_client()
    sign_in(client, admin)
    english = english_messages(demo_app) - record_data(demo_app)
    crm = demo_app.extensions["crm"]
    leaks: dict[str, set[str]] = {}
    for entity in _entities(demo_app):
        urls = [f"/{entity.plural}"]
        if entity.api_create:
            urls.append(f"/{entity.plural}/new")
        first = crm.session.scalar(crm.records().query(entity).order_by(entity.model.id).limit(1))
        if first is not None:
            urls += [f"/{entity.plural}/{first.id}", f"/{entity.plural}/{first.id}/edit"]
        for url in urls:
            response = client.get(url)
            if response.status_code in (302, 303, 404):
                continue  # an entity without that page (a dedicated one replaces it)
            assert response.status_code == 200, (url, response.status_code)
            parser = _Texts()
            parser.feed(response.get_data(as_text=True))
            found = {t for t in parser.texts if t in english}
            if found:
                leaks[url] = found
    assert not leaks, "English left on Spanish pages:\n" + "\n".join(
        f"{url}: {sorted(texts)}" for url, texts in sorted(leaks.items())
    )
