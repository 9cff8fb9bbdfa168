"""The models' scores stored as fields: ``win_probability`` on deals and
``conversion_probability`` on leads, percentages 0-100 rounded to whole numbers.

After each training the open records (not in the trash) are scored in batches and the values
copied through the record service (as the system), writing only records whose value changed,
so the list filter language, segments, automation conditions and reports can use them
(``custom.win_probability__gte=70``). Closed records, and every record while the model has too
little data, have the field emptied. A record the record service refuses (an instance's
required field left empty) is logged and skipped, not the whole run.
"""

from __future__ import annotations

import logging
from typing import Any

from crmcore import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from . import churn, customer_model, propensity
from .models import PredictionModel
from .predict import SPECS, Spec, features, percent, score, train

BATCH = 500
#: the models of a customer's next orders, trained with the others
CUSTOMER_SPECS = (propensity.SPEC, churn.SPEC)
log = logging.getLogger(__name__)


def sync_scores(crm: Any, session: Session, spec: Spec, model: PredictionModel | None) -> int:
    """Score the open records of ``spec`` with ``model`` and store the scores in ``spec.field``
    (emptied on closed records, and on all of them when ``model`` is not usable), writing only
    records whose value changed. Returns the number of records written."""
    records = crm.records(session=session)
    entity = records.entity(spec.entity)
    record_model = entity.model
    usable = model is not None and model.status == "ok"
    written = 0
    last_id = 0
    while True:
        stmt = (
            select(record_model)
            .where(record_model.deleted_at.is_(None), record_model.id > last_id)
            .order_by(record_model.id)
            .limit(BATCH)
        )
        batch = session.scalars(stmt).all()
        if not batch:
            return written
        last_id = batch[-1].id
        wanted: dict[int, int] = {}
        if usable:
            assert model is not None
            open_ = [r for r in batch if spec.is_open(crm, session, r)]
            rows = features(crm, session, open_, spec) if open_ else []
            wanted = {
                r.id: percent(score(model, row).probability)
                for r, row in zip(open_, rows, strict=True)
            }
        for record in batch:
            value = wanted.get(record.id)
            if (record.custom_fields or {}).get(spec.field) == value:
                continue
            try:
                records.update(entity, record, {"custom_fields": {spec.field: value}}, commit=False)
            except ValidationError as exc:  # e.g. a required custom field left empty
                log.warning("%s %s not scored: %s", spec.entity, record.id, exc)
                continue
            written += 1
        records.commit()


def train_and_store(crm: Any, session: Session) -> dict[str, int]:
    """The nightly job's work: train every model (deal win, lead conversion, purchase
    propensity, churn risk), commit, then store the scores. Returns the number of records
    written per model; empty without the Sales plugin."""
    trained = {spec.name: train(crm, session, spec) for spec in SPECS.values()}
    customers = {spec: customer_model.train(crm, session, spec) for spec in CUSTOMER_SPECS}
    session.commit()
    written = {
        name: sync_scores(crm, session, SPECS[name], model)
        for name, model in trained.items()
        if model is not None
    }
    for spec, model in customers.items():
        if model is not None:
            written[spec.name] = customer_model.sync_scores(crm, session, spec, model)
    return written
