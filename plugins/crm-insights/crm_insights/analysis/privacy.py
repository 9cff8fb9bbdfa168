"""The insights plugin's part of a person's data (``crm_person_data``): the scores computed for
their contacts and their per-contact calling hours. Both are derived figures: exported, then
deleted when the person is erased (country and instance-wide figures keep their counts). The
stored results of pinned reports may show the person's values (a report grouped by e-mail):
an erasure drops them all, the next views compute them again."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, delete, select

from .models import CallHour, CustomerScore, StoredResult


def person_data(person: Any) -> list[Any]:
    from crmcore.privacy import PersonData

    ids = person.contact_ids
    if not ids:
        return []
    session = person.session
    scores = list(session.scalars(select(CustomerScore).where(CustomerScore.contact_id.in_(ids))))
    keys = [str(i) for i in ids]
    own_hours = and_(CallHour.kind == "contact", CallHour.key.in_(keys))
    hours = list(session.scalars(select(CallHour).where(own_hours)))

    def erase() -> None:
        session.execute(delete(CustomerScore).where(CustomerScore.contact_id.in_(ids)))
        session.execute(delete(CallHour).where(own_hours))
        session.execute(delete(StoredResult).where(StoredResult.kind == "report"))

    return [
        PersonData(
            "insights.customer_scores",
            rows=[person.row(s) for s in scores] + [person.row(h) for h in hours],
            erase=erase,
        )
    ]
