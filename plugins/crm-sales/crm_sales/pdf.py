"""Quote PDFs: a Jinja HTML template rendered by WeasyPrint, in the customer's language.

The template is ``sales/quote.html``, looked up first in ``<instance>/templates/`` so an
instance can override it, then in this package. It is rendered in the contact's ``locale``
(else the instance's default language), so its ``_()`` strings, dates and amounts follow it.
WeasyPrint may load only ``data:`` URLs and files under ``<instance>/templates/`` (a logo next
to the template); nothing from the network.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from babel.numbers import format_decimal
from flask import Flask
from flask_babel import force_locale, format_date, get_locale
from flask_babel import lazy_gettext as _l
from jinja2 import ChoiceLoader, FileSystemLoader, PackageLoader

from crmcore.web.i18n import contact_locale

PACKAGE_TEMPLATES = Path(__file__).parent / "templates"


def instance_templates(app: Flask) -> Path:
    return Path(app.extensions["crm"].settings.instance_path) / "templates"


def _loader(app: Flask) -> ChoiceLoader:
    return ChoiceLoader(
        [FileSystemLoader(str(instance_templates(app))), PackageLoader("crm_sales", "templates")]
    )


def _fetcher(app: Flask) -> Any:
    """A WeasyPrint URL fetcher allowing ``data:`` URLs and files of the instance templates."""
    from weasyprint.urls import URLFetcher

    allowed = instance_templates(app).resolve()

    class InstanceFetcher(URLFetcher):  # type: ignore[misc]
        def fetch(self, url: str, headers: Any = None) -> Any:
            if url.startswith("file://"):
                path = Path(unquote(urlsplit(url).path)).resolve()
                if not path.is_relative_to(allowed):
                    raise ValueError(f"quote PDFs may not load {url[:100]!r}")
            return super().fetch(url, headers)

    return InstanceFetcher(allowed_protocols=("data", "file"), timeout=5)


#: quote statuses as the PDF shows them
STATUS_LABELS = {
    "draft": _l("Draft"),
    "sent": _l("Sent"),
    "accepted": _l("Accepted"),
    "rejected": _l("Rejected"),
}


def amount(value: Any, currency: str = "") -> str:
    """``1,234.50 EUR`` (``1.234,50 EUR`` in Spanish): two decimals, grouped, with the code."""
    locale = str(get_locale() or "en")
    text = format_decimal(Decimal(str(value or 0)), format="#,##0.00", locale=locale)
    return f"{text} {currency}".strip()


def date(value: Any) -> str:
    return format_date(value, "long") if value else ""


def render_html(app: Flask, quote: Any, context: dict[str, Any]) -> str:
    """The quote's HTML from the (possibly overridden) template."""
    env = app.jinja_env.overlay(loader=_loader(app), autoescape=True)
    env.filters["amount"] = amount
    env.filters["date"] = date
    template = env.get_template("sales/quote.html")
    status = STATUS_LABELS.get(quote.status, quote.status)
    locale = str(get_locale() or "en")
    return template.render(
        quote=quote, lines=quote.lines or [], status=status, locale=locale, **context
    )


def render_pdf(app: Flask, quote: Any, context: dict[str, Any]) -> bytes:
    """The quote as PDF bytes."""
    from weasyprint import HTML

    with force_locale(contact_locale(app, context.get("contact"))):
        html = render_html(app, quote, context)
    base = instance_templates(app)
    document = HTML(string=html, base_url=str(base) + "/", url_fetcher=_fetcher(app))
    return document.write_pdf()  # type: ignore[no-any-return]


def quote_context(records: Any, quote: Any) -> dict[str, Any]:
    """Who the quote is for and from, for the template (read with the system's rights)."""
    from crmcore.settings import get_settings

    session = records.session
    contact_model = records.entity("contacts").model
    company_model = records.entity("companies").model
    contact = session.get(contact_model, quote.contact_id) if quote.contact_id else None
    company = session.get(company_model, quote.company_id) if quote.company_id else None
    settings = get_settings(session)
    return {"contact": contact, "company": company, "seller": settings.get("company_name") or ""}


def quote_pdf(app: Flask, records: Any, quote: Any) -> bytes:
    """Render ``quote`` (already permission-checked by the caller) as a PDF."""
    return render_pdf(app, quote, quote_context(records, quote))
