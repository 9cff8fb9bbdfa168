"""Leads: status rules and conversion into a contact, a company and maybe a deal."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func

from crmcore import Conflict, ValidationError
from crmcore.db import utcnow

#: Mail providers whose domain says nothing about the lead's company.
FREEMAIL = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "outlook.com",
        "hotmail.com",
        "live.com",
        "yahoo.com",
        "icloud.com",
        "me.com",
        "aol.com",
        "gmx.de",
        "gmx.net",
        "web.de",
        "proton.me",
        "protonmail.com",
        "yandex.ru",
        "mail.ru",
    }
)


def prepare_lead(values: dict[str, Any], record: Any, service: Any) -> None:
    """Only the ``convert`` action converts; a converted lead keeps its status."""
    status = values.get("status")
    if status == "converted" and (record is None or record.status != "converted"):
        raise ValidationError({"status": ["Use the Convert action to convert a lead."]})
    if record is not None and record.status == "converted" and status not in (None, "converted"):
        raise ValidationError({"status": ["A converted lead keeps its status."]})


def company_domain(email: str | None, website: str | None) -> str | None:
    """The company's domain: the website's host, else the e-mail's domain unless free-mail."""
    if website:
        host = urlsplit(website if "//" in website else f"//{website}").hostname or ""
        host = host.lower().removeprefix("www.")
        if "." in host:
            return host
    if email and "@" in email:
        domain = email.rpartition("@")[2].lower()
        if domain and domain not in FREEMAIL:
            return domain
    return None


def _readable_match(records: Any, plural: str, condition: Any) -> int | None:
    """The id of the first live record matching ``condition`` that the user may read."""
    if not records.access.can(plural, "read"):
        return None
    model = records.entity(plural).model
    stmt = records.query(plural).where(condition).order_by(model.id).limit(1)
    found = records.session.scalars(stmt).first()
    return found.id if found is not None else None


def convert(records: Any, lead_id: int, options: dict[str, Any]) -> dict[str, int | None]:
    """Turn a lead into a contact (and company, and deal); reuse matching ones.

    An existing company with the same domain, or contact with the same e-mail (case-insensitive,
    not in the trash), is reused rather than duplicated - only one the converting user may
    read: another rep's record is neither reused nor revealed, a new one is created.
    """
    company_model = records.entity("companies").model
    contact_model = records.entity("contacts").model
    lead = records.get("leads", lead_id, "update")
    if lead.status == "converted":
        raise Conflict("This lead was converted already.")
    owner = {"owner_id": lead.owner_id} if lead.owner_id is not None else {}
    domain = company_domain(lead.email, lead.website)
    company_id = None
    if domain:
        company_id = _readable_match(
            records, "companies", func.lower(company_model.domain) == domain
        )
    if company_id is None and lead.company_name:
        company = records.create(
            "companies", {"name": lead.company_name, "domain": domain, **owner}, commit=False
        )
        company_id = company.id
    contact_id = None
    if lead.email:
        contact_id = _readable_match(
            records, "contacts", func.lower(contact_model.email) == lead.email.lower()
        )
    if contact_id is None:
        fields = {
            "first_name": lead.first_name,
            "last_name": lead.last_name or lead.company_name or lead.email or "",
            "email": lead.email,
            "phone": lead.phone,
            "title": lead.title,
            "company_id": company_id,
            "source": lead.source,
        }
        contact = records.create(
            "contacts",
            {k: v for k, v in fields.items() if v not in (None, "")} | owner,
            commit=False,
        )
        contact_id = contact.id
    deal_id = None
    if options.get("create_deal"):
        name = f"{lead.first_name} {lead.last_name}"
        title = options.get("deal_title") or lead.company_name or name
        deal = {"title": title.strip() or "Deal", "contact_id": contact_id}
        deal["company_id"] = company_id
        given = ("amount", "currency", "pipeline_id")
        deal |= {k: options[k] for k in given if options.get(k) is not None}
        deal_id = records.create("deals", deal | owner, commit=False).id
    result = {"contact_id": contact_id, "company_id": company_id, "deal_id": deal_id}
    records.update(
        "leads",
        lead,
        {},
        internal={"status": "converted", "converted_at": utcnow(), **result},
        commit=False,
    )
    records.commit()
    return result
