"""Tables of the workflow rules: the rules (an entity), their runs and the round-robin turns.

A rule is written through the record service like any record. Runs are the rule's history:
one row per (rule, record, trigger occurrence) - the unique key that makes a run idempotent -
with the result of each action.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from crmcore.db import AwareDateTime, Base, JSONType, OwnedMixin, RecordMixin, utcnow
from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

#: a run's states: queued, running its actions, all done, some failed, refused before running
RUN_STATUSES = ("pending", "running", "done", "failed", "skipped")


class AutomationWorkflow(RecordMixin, OwnedMixin, Base):
    """A workflow rule: on ``trigger`` for records of ``entity`` meeting ``conditions``, do
    ``actions`` in order, as its owner (or as the system when ``system``)."""

    __tablename__ = "automation_workflow"

    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    entity: Mapped[str] = mapped_column(String(64), index=True)
    trigger: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    conditions: Mapped[str] = mapped_column(Text, default="")
    actions: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    system: Mapped[bool] = mapped_column(Boolean, default=False)
    #: a sequence enrols each record once (one run per record, ever) and leaves it early
    #: when ``exit_conditions`` hold before a step, or the contact opted out of e-mail
    sequence: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    exit_conditions: Mapped[str] = mapped_column(Text, default="", server_default="")
    #: SHA-256 (hex) of the secret token of the rule's incoming-webhook URL; the token itself
    #: is shown once, when it is made (``crm_automation.incoming``)
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    #: the HMAC key signing the rule's call-webhook requests (``X-CRM-Signature``); dumped by
    #: the API as ``signing_secret`` only in the answer that made it; masked in the audit
    secret: Mapped[str] = mapped_column(String(100), default="", server_default="")


class AutomationRun(Base):
    """One firing of a rule on one record, and what each of its actions did."""

    __tablename__ = "automation_run"
    __table_args__ = (
        UniqueConstraint("workflow_id", "record_id", "occurrence"),
        Index("ix_automation_run_record", "entity", "record_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workflow_id: Mapped[int] = mapped_column(
        ForeignKey("automation_workflow.id", ondelete="CASCADE"), index=True
    )
    entity: Mapped[str] = mapped_column(String(64))
    record_id: Mapped[int] = mapped_column(Integer)
    occurrence: Mapped[str] = mapped_column(String(100))
    trigger: Mapped[str] = mapped_column(String(50))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    #: ids of the rules whose actions led to this run, outermost first (loop guard)
    chain: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    #: per action: {"type", "status", "result", "error", "attempts"}
    results: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    note: Mapped[str] = mapped_column(String(200), default="")
    #: the JSON body of the incoming-webhook request that fired the run (``{{ payload.x }}``)
    payload: Mapped[Any | None] = mapped_column(JSONType)
    created_at: Mapped[dt.datetime] = mapped_column(AwareDateTime, default=utcnow, index=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(AwareDateTime)


class AutomationRotation(Base):
    """Whom a round-robin assignment of one rule's action gave the last record to."""

    __tablename__ = "automation_rotation"
    __table_args__ = (UniqueConstraint("workflow_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workflow_id: Mapped[int] = mapped_column(
        ForeignKey("automation_workflow.id", ondelete="CASCADE")
    )
    position: Mapped[int] = mapped_column(Integer, default=0)
    last_user_id: Mapped[int | None] = mapped_column(Integer)
