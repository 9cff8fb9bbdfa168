"""The insights plugin's part of a person's data (``crm_person_data``): the scores and calling
hours computed for their contacts are exported, then deleted by an erasure."""

from __future__ import annotations

import datetime as dt
import json
import zipfile
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from crm_insights.analysis.models import CallHour, CustomerScore, StoredResult

pytestmark = pytest.mark.crm_plugins("insights")

EMAIL = "nerea@example.org"


def test_scores_and_call_hours_are_exported_then_erased(crm: Any, records: Any, cli: Any,
                                                        tmp_path: Any) -> None:  # fmt: skip
    person = records.create("contacts", {"first_name": "Nerea", "email": EMAIL})
    other = records.create("contacts", {"first_name": "Ana", "email": "ana@example.org"})
    today = dt.date(2026, 11, 2)
    for contact in (person, other):
        crm.session.add(
            CustomerScore(contact_id=contact.id, first_order_on=today, last_order_on=today,
                          orders=3, monetary=Decimal("120"), currency="EUR", recency_days=30,
                          r=4, f=3, m=2, segment="loyal",
                          computed_at=dt.datetime.now(dt.UTC))
        )
        crm.session.add(CallHour(kind="contact", key=str(contact.id), hour=10, calls=4,
                                 answered=3))  # fmt: skip
    crm.session.add(CallHour(kind="all", key="", hour=10, calls=8, answered=6))
    now = dt.datetime.now(dt.UTC)
    stored = {"report": [[EMAIL, 1]], "cohorts": [["2026-11", "2026-11", 2]]}  # counts only
    for kind, rows in stored.items():  # a report grouped by e-mail shows the person's
        crm.session.add(StoredResult(key=kind, kind=kind, fingerprint="", rows=rows,
                                     computed_at=now))  # fmt: skip
    crm.session.commit()

    out = tmp_path / "nerea.zip"
    assert cli("people", "export", EMAIL, "-o", str(out)).exit_code == 0
    with zipfile.ZipFile(out) as archive:
        rows = json.loads(archive.read("data/insights.customer_scores.json"))["rows"]
    assert {r.get("contact_id") for r in rows} == {person.id, None}  # a score and an hour row

    assert cli("people", "erase", EMAIL, "--yes").exit_code == 0
    crm.session.expire_all()
    assert list(crm.session.scalars(select(CustomerScore.contact_id))) == [other.id]
    keys = sorted((h.kind, h.key) for h in crm.session.scalars(select(CallHour)))
    assert keys == [("all", ""), ("contact", str(other.id))]  # the figures overall stay
    assert list(crm.session.scalars(select(StoredResult.kind))) == ["cohorts"]
