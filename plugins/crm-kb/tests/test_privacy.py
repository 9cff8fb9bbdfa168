"""The knowledge base's part of a person's data (``crm_person_data``): searches naming them."""

from __future__ import annotations

import pytest
from crm_kb.models import KbSearch
from sqlalchemy import select

pytestmark = pytest.mark.crm_plugins("kb")


def test_searches_naming_the_person_are_pseudonymised(crm, records, cli):
    records.create(
        "contacts", {"first_name": "Nerea", "last_name": "Olaizola", "email": "nerea@example.org"}
    )
    crm.session.add(KbSearch(query="invoice nerea@example.org", terms="invoice nerea example org"))
    crm.session.add(KbSearch(query="reset password", terms="reset password"))
    crm.session.commit()
    assert cli("people", "erase", "nerea@example.org", "--yes").exit_code == 0
    crm.session.expire_all()
    queries = sorted(crm.session.scalars(select(KbSearch.query)))
    assert queries[1] == "reset password"
    assert "nerea" not in queries[0].lower() and queries[0].startswith("invoice erased-")
