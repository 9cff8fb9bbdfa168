"""Periodic jobs of the customer analysis."""

from __future__ import annotations

from typing import Any

from crmcore import PeriodicJob


def score_customers(app: Any) -> None:
    """Recompute RFM scores and lifetime values (nightly)."""
    from .rfm import run

    crm = app.extensions["crm"]
    run(crm, crm.session)


def product_rules(app: Any) -> None:
    """Recompute the "also bought" association rules (nightly)."""
    from .affinity import compute

    crm = app.extensions["crm"]
    compute(crm, crm.session)
    crm.session.commit()


def call_hours(app: Any) -> None:
    """Recount answered calls per local hour (nightly)."""
    from .call_times import compute

    crm = app.extensions["crm"]
    compute(crm, crm.session)
    crm.session.commit()


def train_models(app: Any) -> None:
    """Train the deal win, lead conversion, purchase propensity and churn risk models and store
    their scores on the open deals and leads and on the customers (nightly)."""
    from .prediction_fields import train_and_store

    crm = app.extensions["crm"]
    train_and_store(crm, crm.session)


def warm_cohorts(app: Any) -> None:
    """Compute the cohort table of every reader's scope into the stored results (nightly)."""
    from .cohort_cache import warm

    warm(app.extensions["crm"])


def periodic_jobs() -> list[PeriodicJob]:
    """The nightly RFM run at 02:30, the association rules at 03:00, the call hours at 03:30,
    the prediction models at 04:00, the cohort tables at 04:30."""
    return [
        PeriodicJob("warm_cohorts", warm_cohorts, {"minute": "30", "hour": "4"}),
        PeriodicJob("train_models", train_models, {"minute": "0", "hour": "4"}),
        PeriodicJob("call_hours", call_hours, {"minute": "30", "hour": "3"}),
        PeriodicJob("score_customers", score_customers, {"minute": "30", "hour": "2"}),
        PeriodicJob("product_rules", product_rules, {"minute": "0", "hour": "3"}),
    ]
