"""``Idempotency-Key`` on API POSTs: a client retrying through a fault gets the first answer
again instead of a second record.

The first request with a key claims it (a row committed before the view runs, unique per user
and key), the view runs, and its answer (status, body, ``Location``/``ETag``) is stored on the
row. A later request with the same key and the same method, path and body gets that answer
replayed (``Idempotent-Replayed: true``); with anything else it gets 422. A request arriving
while the first is still running waits for its answer for a few seconds, then gets 409 with
``Retry-After``. Answers of 5xx and 429 are not kept (the client should retry). Keys live 24
hours.

A request whose process dies after its write was committed but before its answer was stored
must not be carried out twice: the commit that writes the request's changes also marks the
key's row (``committed_at``, and for a record creation the new record), in the same
transaction. A claim whose request never finished is given up after :data:`ABANDONED_AFTER`
only when nothing was committed for it; otherwise a creation is answered with the record as
it now is (201, ``Idempotent-Replayed``), and any other request with 409 saying it was
carried out.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from typing import Any

from flask import Response, g, request
from sqlalchemy import (
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    delete,
    event,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Mapped, mapped_column

from .db import AwareDateTime, Base, JSONType, sqlite_write_intent, utcnow

HEADER = "Idempotency-Key"
#: how long a key and its answer are kept
KEEP = dt.timedelta(hours=24)
#: a claim older than this whose answer never came is given up
ABANDONED_AFTER = dt.timedelta(seconds=60)
#: how long a request waits for the answer of a concurrent one with the same key
WAIT_SECONDS = 10.0
MAX_KEY_LENGTH = 255
#: answers larger than this are not kept (the key then only guards against duplicates)
MAX_BODY = 1024 * 1024
KEPT_HEADERS = ("Content-Type", "Location", "ETag")


class IdempotencyKey(Base):
    """One client key of one user, and the answer given to it once known."""

    __tablename__ = "core_idempotency_key"
    __table_args__ = (UniqueConstraint("user_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("core_user.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH))
    #: SHA-256 of method, path, query and body: the same key may only repeat the same request
    request_hash: Mapped[str] = mapped_column(String(64))
    #: ``None`` while the first request runs
    status: Mapped[int | None] = mapped_column(Integer)
    headers: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    body: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(AwareDateTime, default=utcnow, index=True)
    #: set in the transaction that committed the request's writes
    committed_at: Mapped[dt.datetime | None] = mapped_column(AwareDateTime)
    #: ``plural:id`` of the record a creation committed
    record: Mapped[str | None] = mapped_column(String(200))


def _request_hash() -> str:
    digest = hashlib.sha256()
    for part in (request.method, request.path, request.query_string.decode("latin-1")):
        digest.update(part.encode("utf-8", "surrogatepass") + b"\0")
    digest.update(request.get_data(cache=True))
    return digest.hexdigest()


def _problem(status: int, title: str, detail: str, retry: bool = False) -> Response:
    from .api.problems import problem

    return problem(status, title, detail, headers={"Retry-After": "1"} if retry else None)


def begin(crm: Any) -> Response | None:
    """Before an API POST with an ``Idempotency-Key``: claim the key, or answer for it."""
    key = request.headers.get(HEADER)
    user = g.get("crm_user")
    if key is None or request.method != "POST" or user is None:
        return None
    if not key or len(key) > MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        return _problem(
            400,
            "Bad request",
            f"{HEADER} must be 1 to {MAX_KEY_LENGTH} printable ASCII characters.",
        )
    session = crm.session
    fingerprint = _request_hash()
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        # claim the key; only when it is free, so waiting requests never queue for the write
        # lock that the first request needs
        row_id = _claim(session, user.id, key, fingerprint)
        if row_id is not None:
            g.crm_idempotency_id = row_id
            _watch_commits(crm, session, row_id)
            return None
        while True:
            found = _read(session, user.id, key)
            if found is None:
                break  # given up meanwhile: claim it again
            if found.request_hash != fingerprint:
                return _problem(
                    422,
                    "Validation failed",
                    f"This {HEADER} was used for another request; send a new key.",
                )
            if found.status is not None:
                response = Response(found.body or b"", status=found.status)
                for name, value in (found.headers or {}).items():
                    response.headers[name] = value
                response.headers["Idempotent-Replayed"] = "true"
                return response
            if found.created_at < utcnow() - ABANDONED_AFTER:
                if found.committed_at is not None:
                    return _answer_committed(crm, session, found.id, found.record)
                session.execute(delete(IdempotencyKey).where(IdempotencyKey.id == found.id))
                session.commit()
                break
            if time.monotonic() > deadline:
                return _problem(
                    409,
                    "Conflict",
                    f"A request with this {HEADER} is still running; retry shortly.",
                    retry=True,
                )
            time.sleep(0.1)


def _claim(session: Any, user_id: int, key: str, fingerprint: str) -> int | None:
    """Insert the key's row (dropping expired keys); its id, or ``None`` when it exists."""
    session.rollback()
    session.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at < utcnow() - KEEP))
    row = IdempotencyKey(user_id=user_id, key=key, request_hash=fingerprint, headers={})
    session.add(row)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        return None
    return row.id


def _watch_commits(crm: Any, session: Any, row_id: int) -> None:
    """Mark the claimed row in the same transaction as the first commit that writes."""
    info = session.info
    info["crm_idempotency_id"] = row_id
    created_model = None
    plural = request.path.removeprefix("/api/v1/").strip("/")
    if plural and "/" not in plural:
        try:
            created_model = crm.registry.get(plural).model
        except KeyError:
            pass  # not a collection of records

    def after_flush(session: Any, _context: Any) -> None:
        if info.get("crm_idempotency_id") is None:
            return
        info["crm_idempotency_wrote"] = True
        if created_model is not None and "crm_idempotency_record" not in info:
            for obj in session.new:
                if type(obj) is created_model:
                    info["crm_idempotency_record"] = f"{plural}:{obj.id}"
                    break

    def before_commit(session: Any) -> None:
        row = info.get("crm_idempotency_id")
        if row is None or not info.pop("crm_idempotency_wrote", False):
            return
        session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.id == row)
            .values(committed_at=utcnow(), record=info.get("crm_idempotency_record"))
            .execution_options(synchronize_session=False)
        )

    event.listen(session, "after_flush", after_flush)
    event.listen(session, "before_commit", before_commit)


def _answer_committed(crm: Any, session: Any, row_id: int, record: str | None) -> Response:
    """The answer for a key whose request committed its writes and died before answering."""
    from .api.resources import with_etag
    from .api.serializing import dumper
    from .errors import CRMError

    response: Response | None = None
    if record:
        plural, _, record_id = record.partition(":")
        try:
            entity = crm.registry.get(plural)
            found = crm.records(g.crm_access).get(entity, int(record_id))
        except (KeyError, ValueError, CRMError):
            found = None
        if found is not None:
            response = crm.app.json.response(dumper(entity.dump_schema)(found))
            response.status_code = 201
            response.headers["Location"] = f"/api/v1/{plural}/{found.id}"
            with_etag(response, found)
    if response is None:
        response = _problem(
            409,
            "Conflict",
            f"The request with this {HEADER} was carried out, but its answer was lost; "
            "read the resource to see its result.",
        )
    session.rollback()
    row = session.get(IdempotencyKey, row_id)
    if row is not None and row.status is None:
        row.status = response.status_code
        row.body = response.get_data()
        row.headers = {h: response.headers[h] for h in KEPT_HEADERS if h in response.headers}
        session.commit()
    response.headers["Idempotent-Replayed"] = "true"
    return response


def _read(session: Any, user_id: int, key: str) -> IdempotencyKey | None:
    """The row of a key, read without taking SQLite's write lock, detached from the session.

    Detached, so that the rollback below does not expire it: reading an expired attribute
    would load it again in a new transaction, which on SQLite takes the write lock (and holds
    it through the caller's sleep, starving the request that owns the key) and fails when the
    row was deleted meanwhile."""
    token = sqlite_write_intent.set(False)
    try:
        session.rollback()
        found = session.scalar(
            select(IdempotencyKey).where(
                IdempotencyKey.user_id == user_id, IdempotencyKey.key == key
            )
        )
        if found is not None:
            session.expunge(found)
        return found  # type: ignore[no-any-return]
    finally:
        session.rollback()
        sqlite_write_intent.reset(token)


def finish(crm: Any, response: Response) -> Response:
    """After the view: keep the answer for the claimed key (or free the key on a 5xx/429)."""
    row_id = g.pop("crm_idempotency_id", None)
    if row_id is None:
        return response
    session = crm.session
    session.info.pop("crm_idempotency_id", None)  # its own commit below marks nothing
    keep = (
        response.status_code < 500
        and response.status_code != 429
        and not response.is_streamed
        and (response.content_length or 0) <= MAX_BODY
    )
    try:
        session.rollback()  # views commit what they write; nothing else may ride along
        row = session.get(IdempotencyKey, row_id)
        if row is not None:
            if keep:
                row.status = response.status_code
                row.body = response.get_data()
                row.headers = {
                    h: response.headers[h] for h in KEPT_HEADERS if h in response.headers
                }
            elif row.committed_at is None:
                session.delete(row)
            # else: its writes were committed - keep the claim, so a retry never repeats them
        session.commit()
    except OperationalError:
        session.rollback()  # the claim is given up after ABANDONED_AFTER
    return response
