"""Duplicate detection: likely duplicates of new contacts and companies.

A contact is a likely duplicate of another with the same e-mail (case-insensitive), the same
phone number (phone and mobile compared in E.164 form, as the core stores them) or a similar
name at the same company; a company of another with the same web domain or a similar name.
Every look-up goes through :meth:`crmcore.records.RecordService.query`, so a hint never names
a record the user may not read, and a batch of records is checked with one query.
"""

from __future__ import annotations

from .matching import (
    RULES,
    Candidate,
    candidates_for,
    check_input,
    check_records,
    company_key,
    person_key,
)

__all__ = [
    "RULES",
    "Candidate",
    "candidates_for",
    "check_input",
    "check_records",
    "company_key",
    "person_key",
]
