"""Quote PDFs: a Jinja HTML template rendered by WeasyPrint.

The template is ``sales/quote.html``, looked up first in ``<instance>/templates/`` so an
instance can override it, then in this package. WeasyPrint may load only ``data:`` URLs and
files under ``<instance>/templates/`` (a logo next to the template); nothing from the network.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from babel.numbers import format_decimal
from flask import Flask
from jinja2 import ChoiceLoader, FileSystemLoader, PackageLoader

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


def amount(value: Any, currency: str = "") -> str:
    """``1,234.50 EUR``: two decimals, grouped, with the currency code."""
    text = format_decimal(Decimal(str(value or 0)), format="#,##0.00", locale="en")
    return f"{text} {currency}".strip()


def render_html(app: Flask, quote: Any, context: dict[str, Any]) -> str:
    """The quote's HTML from the (possibly overridden) template."""
    env = app.jinja_env.overlay(loader=_loader(app), autoescape=True)
    env.filters["amount"] = amount
    template = env.get_template("sales/quote.html")
    return template.render(quote=quote, lines=quote.lines or [], **context)


def render_pdf(app: Flask, quote: Any, context: dict[str, Any]) -> bytes:
    """The quote as PDF bytes."""
    from weasyprint import HTML

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
