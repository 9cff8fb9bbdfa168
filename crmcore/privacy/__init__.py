"""A person's rights over their data, built into the kernel: export (GDPR articles 15 and 20),
erasure (article 17) and the purge of the trash after the retention period.

Every plugin takes part through the ``crm_person_data`` hook: it receives a :class:`Person`
(the address, the matching contacts, the session and helpers to purge, scrub and list files)
and returns :class:`PersonData` sections - the rows for the export and a callable that erases
them. :func:`export_person` and :func:`erase_person` gather them from every plugin that has
tables on the instance (enabled, or disabled with its rows kept).
"""

from __future__ import annotations

from .person import Person, PersonData, email_hash
from .service import clean_email, erase_person, export_person, gather, was_erased

__all__ = [
    "Person",
    "PersonData",
    "clean_email",
    "email_hash",
    "erase_person",
    "export_person",
    "gather",
    "was_erased",
]
