"""The knowledge base's part of a person's data (``crm_person_data``): the help centre keeps no
account of who searched or voted, but a search typed into it may hold the person's name or
address; such searches are exported and pseudonymised."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from .models import KbDeflection, KbSearch


def person_data(person: Any) -> list[Any]:
    from crmcore.privacy import PersonData

    session = person.session
    searches = list(
        session.scalars(select(KbSearch).where(person.mentions(KbSearch.query, KbSearch.terms)))
    )
    deflections = list(
        session.scalars(select(KbDeflection).where(person.mentions(KbDeflection.query)))
    )
    return [
        PersonData(
            "kb.searches",
            [person.row(s) for s in searches],
            erase=lambda: _scrub_searches(person, searches),
        ),
        PersonData(
            "kb.deflections",
            [person.row(d) for d in deflections],
            erase=lambda: person.scrub_rows(KbDeflection, ["query"]),
        ),
    ]


def _scrub_searches(person: Any, searches: list[Any]) -> None:
    from crmcore.search import normalise

    for row in searches:
        row.query = person.scrub(row.query)[:200]
        terms = row.terms
        for term in person.terms:
            terms = terms.replace(normalise(term), person.pseudonym)
        row.terms = person.scrub(terms)[:200]
    person.session.flush()
