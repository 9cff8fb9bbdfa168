"""The incoming-webhook trigger: a rule fired by a ``POST`` of JSON to its secret URL.

The URL ends in a random token (256 bits); the rule keeps only its SHA-256, so the URL is
shown once, in the answer (page or API) that made it, and a new one replaces it at once.

What a request does, in order: the rule is found by the token's hash (unknown, rotated or
trashed: 404, the same answer either way); the per-token rate limit; an inactive rule answers
409; the body is JSON (``Content-Type`` ``application/json``, at most :data:`MAX_BODY` bytes,
an object). The record the actions run on is looked up in the rule owner's scope: the
trigger's ``match_field`` (e.g. ``email``) equal to the payload's ``payload_key`` (default the
same name; dots reach into nested objects). When none matches and ``create`` is set, a record
is created from the payload's fields (through the record service, as the owner); otherwise the
run is recorded as skipped. The lookup and the create hold a lock on (rule, match value)
until the transaction ends - an advisory lock on PostgreSQL, the database's write lock on
SQLite - so two identical requests arriving at once make one record, not two. The rule's
conditions are then checked on that record. The run keeps the payload, which templates read
as ``{{ payload.x }}``.

An ``Idempotency-Key`` (or ``X-Event-Id``) header makes a retried delivery run once: the run is
unique per (rule, record, key) and a key seen before answers the first run again.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from crmcore import ValidationError
from crmcore.db import sqlite_write_intent
from crmcore.errors import Conflict, CRMError
from crmcore.registry import SYSTEM_FIELDS
from crmcore.settings import base_url
from flask import has_request_context, request
from sqlalchemy import String, func, select, text

from .models import AutomationRun, AutomationWorkflow

KIND = "incoming_webhook"
#: the largest body taken (bytes)
MAX_BODY = 64 * 1024
#: requests per token (a rule's URL)
RATE = "60 per minute"
#: headers carrying the sender's id of a delivery, first found wins
KEY_HEADERS = ("Idempotency-Key", "X-Event-Id")
MAX_KEY = 255
#: where the URLs live
PREFIX = "/automation/hooks"
_MADE = "crm.automation.made"


# tokens -----------------------------------------------------------------------------------------


def token_hash(token: str) -> str:
    """The SHA-256 (hex) that the rule keeps of its token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> tuple[str, str]:
    """A fresh token and its hash; the token is remembered for this request only, so that the
    answer that made it can show it (:func:`made_url`)."""
    token = secrets.token_urlsafe(32)
    digest = token_hash(token)
    _made()[digest] = token
    return token, digest


def _made() -> dict[str, str]:
    """What this request made (tokens by hash, the signing secret under ``""``); outside a
    request (CLI, jobs) nothing is kept, since nothing answers."""
    if not has_request_context():
        return {}
    made: dict[str, str] = request.environ.setdefault(_MADE, {})
    return made


def made_url(rule: Any, crm: Any = None) -> str | None:
    """The rule's URL if its token was made in this request, else ``None`` (shown once)."""
    digest = getattr(rule, "token_hash", None)
    token = _made().get(digest) if digest else None
    return url_of(token, crm) if token else None


def url_of(token: str, crm: Any = None) -> str:
    """The public URL of a token, on the instance's public address."""
    return f"{base_url(crm)}{PREFIX}/{token}"


def prepare_tokens(values: dict[str, Any], record: Any, merged: Mapping[str, Any]) -> None:
    """Called when a rule is saved: a rule with the incoming-webhook trigger gets a token when
    it has none or ``rotate_hook_url`` asks for a new one; another trigger loses its token. A
    rule with a call-webhook action gets a signing secret likewise (``rotate_signing_secret``)."""
    from .webhooks import signing

    rotate_url = bool(values.pop("rotate_hook_url", False))
    rotate_secret = bool(values.pop("rotate_signing_secret", False))
    trigger = merged.get("trigger") or {}
    current = getattr(record, "token_hash", None) if record is not None else None
    if isinstance(trigger, Mapping) and trigger.get("type") == KIND:
        if current is None or rotate_url:
            values["token_hash"] = new_token()[1]
    elif current is not None:
        values["token_hash"] = None
    calls = any(
        isinstance(a, Mapping) and a.get("type") == "call_webhook"
        for a in merged.get("actions") or []
    )
    secret = getattr(record, "secret", "") if record is not None else ""
    if (calls and not secret) or rotate_secret:
        made = signing.new_secret()
        values["secret"] = made
        _made()[""] = made


def made_secret(rule: Any) -> str | None:
    """The rule's signing secret if it was made in this request, else ``None``."""
    made = _made().get("")
    return made if made and made == getattr(rule, "secret", None) else None


# the trigger's settings ---------------------------------------------------------------------


def check_incoming(config: Mapping[str, Any], entity: Any, _crm: Any) -> None:
    """Refuse settings naming a field the entity does not have, or finding no record at all."""
    from .i18n import text as _

    match = config.get("match_field") or ""
    if not isinstance(match, str):
        raise ValidationError({"trigger": [_("match_field is the name of a field.")]})
    if match and (match not in entity.columns or match in ("created_at", "updated_at",
                                                           "version", "deleted_at")):  # fmt: skip
        raise ValidationError({"trigger": [_("No field %(name)s on %(entity)s to find the "
                                                "record by.", name=repr(match),
                                                entity=entity.plural)]})  # fmt: skip
    key = config.get("payload_key") or ""
    if not isinstance(key, str) or len(key) > 100:
        raise ValidationError(
            {"trigger": [_("payload_key is a name of at most 100 characters.")]}
        )
    if not isinstance(config.get("create", False), bool):
        raise ValidationError({"trigger": [_("create is true or false.")]})
    if not match and not config.get("create"):
        raise ValidationError(
            {"trigger": [_("Choose the field that finds the record, or create records "
                              "from the payload.")]}
        )


def _never(_config: Mapping[str, Any], _event: Any) -> bool:
    return False


def trigger_type() -> Any:
    """The incoming-webhook trigger kind (record events never fire it)."""
    from .triggers import TriggerType

    return TriggerType(KIND, "Incoming webhook", _never, check_incoming,
                       ("match_field", "payload_key", "create"))  # fmt: skip


# receiving ----------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What a request did: the HTTP status, the JSON answer, or a problem to answer."""

    status: int
    body: dict[str, Any] = field(default_factory=dict)
    problem: str = ""
    errors: dict[str, Any] | None = None


def find_rule(session: Any, token: str) -> AutomationWorkflow | None:
    """The live rule whose URL ends in ``token``."""
    if not token or len(token) > 200:
        return None
    rule: AutomationWorkflow | None = session.scalar(
        select(AutomationWorkflow).where(AutomationWorkflow.token_hash == token_hash(token))
    )
    if rule is None or rule.deleted_at is not None:
        return None
    if (rule.trigger or {}).get("type") != KIND:
        return None
    return rule


def occurrence_of(key: str | None) -> str:
    """The run's occurrence key: the sender's delivery id (hashed to a fixed length), or a new
    one for a request without it."""
    if key:
        return "hook:" + hashlib.sha256(key.encode("utf-8")).hexdigest()
    return "hook:" + uuid.uuid4().hex


def dig(payload: Any, path: str) -> Any:
    """The value at ``path`` (``"email"``, ``"contact.email"``) of the payload, or ``None``."""
    value = payload
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def match_value(entity: Any, config: Mapping[str, Any], payload: Any) -> Any:
    """The payload's value the record is looked up by (text stripped and lower-cased), or
    ``None`` when the rule has no match field or the payload no usable value."""
    match = config.get("match_field") or ""
    if not match:
        return None
    value = dig(payload, config.get("payload_key") or match)
    if value is None or isinstance(value, Mapping | list) or value == "":
        return None
    if isinstance(getattr(entity.model, match).type, String):
        return str(value).strip().lower()
    return value


def hold_match(session: Any, rule_id: int, value: Any) -> None:
    """Serialise the lookup-or-create of one (rule, match value) until the transaction ends.

    PostgreSQL: a transaction-level advisory lock on a 64-bit hash of the pair (a collision
    only makes two values wait for each other); the lookup after it reads what the holder
    before committed, since each statement of a READ COMMITTED transaction sees the latest
    commits. SQLite: the write lock, taken by a new ``BEGIN IMMEDIATE`` transaction, so no
    other connection writes between the lookup and the create."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        digest = hashlib.sha256(f"automation:{rule_id}:{value!r}".encode()).digest()
        key = int.from_bytes(digest[:8], "big", signed=True)
        session.execute(select(func.pg_advisory_xact_lock(key)))
    elif dialect == "sqlite":
        intent = sqlite_write_intent.set(True)
        try:
            session.commit()  # only reads so far: end them, whatever lock they began with
            session.execute(text("SELECT 1"))  # begins the next transaction, holding the lock
        finally:
            sqlite_write_intent.reset(intent)


def _lookup(records: Any, entity: Any, config: Mapping[str, Any], payload: Any) -> Any:
    """The first record (by id) of the owner's scope whose match field equals the payload's
    value; text compared without case."""
    value = match_value(entity, config, payload)
    if value is None:
        return None
    column = getattr(entity.model, config["match_field"])
    if isinstance(column.type, String):
        condition = func.lower(column) == value
    else:
        condition = column == value
    stmt = records.query(entity).where(condition).order_by(entity.model.id).limit(1)
    try:
        return records.session.scalar(stmt)
    except Exception:  # a value the column cannot hold (text for a number): no match
        records.session.rollback()
        return None


def creatable(entity: Any, payload: Mapping[str, Any]) -> dict[str, Any]:
    """The payload's top-level values that the entity's create form takes (others ignored)."""
    declared = entity.create_schema.fields
    return {
        name: value
        for name, value in payload.items()
        if name in declared
        and not declared[name].dump_only
        and name not in SYSTEM_FIELDS
        and name not in ("owner_id", "custom_fields")
    }


def receive(
    crm: Any, rule: AutomationWorkflow, payload: dict[str, Any], key: str | None
) -> Outcome:
    """Fire ``rule`` for one request whose JSON body is ``payload``."""
    from .conditions import compile_conditions, record_matches
    from .engine import JOB, acting_records

    session = crm.session
    occurrence = occurrence_of(key)
    seen = _earlier(session, rule.id, occurrence)
    if seen is not None:
        return _answer(seen, duplicate=True)
    try:
        records = acting_records(crm, rule)
    except CRMError:
        return Outcome(409, problem="The rule cannot act: its owner is gone or deactivated.")
    entity = records.entity(rule.entity)
    config = rule.trigger or {}
    if config.get("create"):
        value = match_value(entity, config, payload)
        if value is not None:
            hold_match(session, rule.id, value)
    record = _lookup(records, entity, config, payload)
    created = False
    note = ""
    if record is None and config.get("create"):
        try:
            record = records.create(entity, creatable(entity, payload), commit=False)
            created = True
        except ValidationError as exc:
            records.rollback()
            messages = exc.messages if isinstance(exc.messages, dict) else {"": exc.messages}
            _skip(session, rule, occurrence, payload, "The payload did not make a valid record.")
            return Outcome(422, problem="The payload did not make a valid record.",
                           errors=messages)  # fmt: skip
        except CRMError as exc:
            records.rollback()
            return Outcome(exc.status, problem=exc.detail)
    elif record is None:
        note = "No record matches the payload."
    if record is not None and rule.conditions and not created:
        params = compile_conditions(crm, entity, rule.conditions)
        if not record_matches(records, entity, params, record.id):
            note = "The rule's conditions do not hold for the record."
    run = AutomationRun(
        workflow_id=rule.id,
        entity=entity.name,
        record_id=record.id if record is not None else 0,
        occurrence=occurrence,
        trigger=KIND,
        status="skipped" if note else "pending",
        chain=[rule.id],
        note=note,
        payload=payload,
        results=[]
        if note
        else [
            {"type": a.get("type"), "status": "pending", "attempts": 0, "result": "", "error": ""}
            for a in rule.actions
        ],
    )
    if note:
        from crmcore.db import utcnow

        run.finished_at = utcnow()
    session.add(run)
    try:
        records.commit()  # the created record and the run together
    except Conflict:
        seen = _earlier(session, rule.id, occurrence)
        if seen is not None:  # the same delivery, received twice at once
            return _answer(seen, duplicate=True)
        raise
    out = _answer(run)
    if record is not None and not note:
        out.body["record"] = {"entity": entity.plural, "id": record.id, "created": created}
    session.commit()  # the reads above leave no transaction open while the job runs
    if not note and rule.actions:
        crm.jobs.enqueue(JOB, out.body["run"], 0)
    return out


def _skip(session: Any, rule: Any, occurrence: str, payload: Any, note: str) -> None:
    from crmcore.db import utcnow

    session.add(AutomationRun(workflow_id=rule.id, entity=rule.entity, record_id=0,
                              occurrence=occurrence, trigger=KIND, status="skipped",
                              chain=[rule.id], note=note, payload=payload, results=[],
                              finished_at=utcnow()))  # fmt: skip
    try:
        session.commit()
    except Exception:
        session.rollback()


def _earlier(session: Any, rule_id: int, occurrence: str) -> AutomationRun | None:
    run: AutomationRun | None = session.scalar(
        select(AutomationRun)
        .where(AutomationRun.workflow_id == rule_id, AutomationRun.occurrence == occurrence)
        .order_by(AutomationRun.id)
        .limit(1)
    )
    return run


def _answer(run: AutomationRun, duplicate: bool = False) -> Outcome:
    body: dict[str, Any] = {"run": run.id, "status": run.status}
    if run.note:
        body["note"] = run.note
    if duplicate:
        body["duplicate"] = True
    return Outcome(200 if duplicate else 202, body)
