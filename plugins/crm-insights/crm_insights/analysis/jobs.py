"""Periodic jobs of the customer analysis."""

from __future__ import annotations

from typing import Any

from crmcore import PeriodicJob


def score_customers(app: Any) -> None:
    """Recompute RFM scores and lifetime values (nightly)."""
    from .rfm import run

    crm = app.extensions["crm"]
    run(crm, crm.session)


def periodic_jobs() -> list[PeriodicJob]:
    """The nightly RFM run, at 02:30."""
    return [PeriodicJob("score_customers", score_customers, {"minute": "30", "hour": "2"})]
