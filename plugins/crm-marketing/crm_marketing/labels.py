"""Address labels of a direct-mail campaign: a CSV for a mail house, an A4 sheet to print.

The addresses are those of the campaign's recipients marked ``sent`` (contacts with a postal
address when the campaign started), read now, in the caller's scope: a user gets the labels
of the contacts they may read and nobody else's; a company name is printed only when they may
read the company too. Lines are ordered by country and postal code (what postal discounts
ask for).

CSV cells a spreadsheet would run as a formula (``= + - @``, tab, CR) get a leading ``'``, as
the core's export does. The PDF is rendered by WeasyPrint from ``marketing/labels.html``
(every value escaped by Jinja); it may load nothing, neither from the network nor from files.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from babel import Locale
from flask import render_template
from sqlalchemy import select

from crmcore import Conflict
from crmcore.settings import default_country, phone_region

from .models import Campaign, Recipient

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
CSV_COLUMNS = (
    "contact_id",
    "name",
    "company",
    "street",
    "postal_code",
    "city",
    "region",
    "country",
)
#: A4 sheets of 3 x 8 labels, 70 x 37 mm (the common 24-label sheet)
COLUMNS, ROWS = 3, 8
PER_SHEET = COLUMNS * ROWS
#: countries writing "city region postal code" on one line
CITY_FIRST = {"US", "CA", "AU"}
#: countries writing the postal code on a line of its own, after the city
POSTCODE_LINE = {"GB", "IE"}
BATCH = 1000


@dataclass
class Label:
    """One contact's address."""

    contact_id: int
    name: str
    company: str
    street: str
    postal_code: str
    city: str
    region: str
    country: str
    lines: list[str] = field(default_factory=list)


def _clean(value: Any) -> str:
    return " ".join(str(value or "").split())


def _street_lines(value: Any) -> list[str]:
    return [_clean(line) for line in str(value or "").splitlines() if _clean(line)]


def country_name(code: str, locale: str = "en") -> str:
    """``ES`` -> ``Spain`` (the code itself when unknown)."""
    try:
        return str(Locale.parse(locale).territories.get(code.upper()) or code)
    except (ValueError, TypeError):
        return code


def address_lines(label: Label, home_country: str) -> list[str]:
    """The lines printed on the label, in the country's usual order; the country is left out
    for addresses in ``home_country`` (the instance's default region)."""
    lines = [label.name, label.company, *_street_lines(label.street)]
    country = label.country.upper()
    if country in CITY_FIRST:
        lines.append(" ".join(p for p in (label.city, label.region, label.postal_code) if p))
    elif country in POSTCODE_LINE:
        lines += [label.city, label.region, label.postal_code]
    else:
        lines.append(" ".join(p for p in (label.postal_code, label.city) if p))
        if label.region and label.region.lower() != label.city.lower():
            lines.append(label.region)
    if country and country != home_country.upper():
        lines.append(country_name(country).upper())
    return [line for line in lines if line]


def require_direct_mail(campaign: Campaign) -> None:
    """Labels exist for a direct-mail campaign once it was sent (its recipients chosen)."""
    if campaign.kind != "direct_mail":
        raise Conflict("Labels are made for direct-mail campaigns only.")
    if campaign.status not in ("sent", "sending"):
        raise Conflict("Send the campaign first: its recipients are chosen when it is sent.")


def check_allowed(records: Any, campaign: Campaign) -> None:
    """Refuse before anything is streamed: not direct mail, not sent, contacts unreadable."""
    require_direct_mail(campaign)
    records.query("contacts")  # PermissionDenied when the user may not read contacts


def iter_labels(records: Any, campaign: Campaign) -> Iterator[Label]:
    """The labels of ``campaign`` that ``records``' user may read, in postal order."""
    require_direct_mail(campaign)
    contacts = records.entity("contacts")
    model = contacts.model
    chosen = select(Recipient.contact_id).where(
        Recipient.campaign_id == campaign.id, Recipient.status == "sent"
    )
    stmt = (
        records.query(contacts)
        .where(model.id.in_(chosen))
        .order_by(model.country, model.postal_code, model.last_name, model.id)
    )
    session = records.session
    home = default_country(records.crm) or phone_region(records.crm)
    offset = 0
    while True:
        rows = list(session.scalars(stmt.offset(offset).limit(BATCH)))
        if not rows:
            return
        offset += len(rows)
        names = _company_names(records, {r.company_id for r in rows if r.company_id})
        for contact in rows:
            label = Label(
                contact_id=contact.id,
                name=_clean(f"{contact.first_name or ''} {contact.last_name or ''}"),
                company=names.get(contact.company_id, "") if contact.company_id else "",
                street=str(contact.street or "").strip(),
                postal_code=_clean(contact.postal_code),
                city=_clean(contact.city),
                region=_clean(contact.region),
                country=_clean(contact.country).upper(),
            )
            label.lines = address_lines(label, home)
            yield label


def _company_names(records: Any, ids: set[int]) -> dict[int, str]:
    """Names of the companies among ``ids`` that the user may read."""
    if not ids:
        return {}
    companies = records.entity("companies")
    model = companies.model
    stmt = records.query(companies).where(model.id.in_(ids))
    if not records.access.can(companies, "read"):
        return {}
    return {c.id: _clean(c.name) for c in records.session.scalars(stmt)}


def csv_cell(value: Any) -> str:
    """A spreadsheet-safe cell."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def labels_csv(records: Any, campaign: Campaign) -> Iterator[bytes]:
    """The labels as UTF-8 CSV (with a BOM for spreadsheets), in chunks. A generator: call
    :func:`check_allowed` before streaming it."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write("\ufeff")
    writer.writerow(CSV_COLUMNS)
    pending = 0
    for label in iter_labels(records, campaign):
        writer.writerow([csv_cell(getattr(label, name)) for name in CSV_COLUMNS])
        pending += 1
        if pending >= BATCH:
            yield _drain(buffer)
            pending = 0
    yield _drain(buffer)


def _drain(buffer: io.StringIO) -> bytes:
    data = buffer.getvalue().encode("utf-8")
    buffer.seek(0)
    buffer.truncate()
    return data


def sheets(labels: list[Label]) -> list[list[list[Label | None]]]:
    """Labels in sheets of :data:`ROWS` rows of :data:`COLUMNS` (the last row padded)."""
    pages = []
    for start in range(0, len(labels), PER_SHEET):
        page = labels[start : start + PER_SHEET]
        rows = []
        for row in range(0, len(page), COLUMNS):
            cells: list[Label | None] = list(page[row : row + COLUMNS])
            rows.append(cells + [None] * (COLUMNS - len(cells)))
        pages.append(rows)
    return pages


def labels_pdf(records: Any, campaign: Campaign) -> bytes:
    """The labels as A4 sheets of 3 x 8, a PDF."""
    from weasyprint import HTML

    found = list(iter_labels(records, campaign))
    html = render_template("marketing/labels.html", campaign=campaign, sheets=sheets(found))
    return HTML(string=html, url_fetcher=_fetcher()).write_pdf()  # type: ignore[no-any-return]


def _fetcher() -> Any:
    """A WeasyPrint fetcher that loads nothing: no image, font or stylesheet from anywhere."""
    from weasyprint.urls import URLFetcher

    class NoFetcher(URLFetcher):  # type: ignore[misc]
        def fetch(self, url: str, headers: Any = None) -> Any:
            raise ValueError(f"labels may not load {url[:80]!r}")

    return NoFetcher(allowed_protocols=())
