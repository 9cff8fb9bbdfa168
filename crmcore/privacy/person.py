"""One person, as the ``crm_person_data`` hook sees them: what to look for and how to forget it."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, String, Text, cast, func, or_, select, update
from sqlalchemy.orm import Session

from ..audit import AuditEntry, jsonable
from ..search import SearchDoc, normalise

if TYPE_CHECKING:
    from ..app import CRM

#: what erased values are replaced with, followed by a short tag of the erasure
PSEUDONYM_PREFIX = "erased-"


@dataclass
class PersonData:
    """What one plugin holds about a person: one section of the export and its erasure.

    :param name: the section, ``<plugin>.<what>`` (``sales.orders``): the export's file name.
    :param rows: JSON-safe dictionaries, one per row (``person.row(record)`` makes one).
    :param files: ``(name, path)`` of files that belong in the export (attachments).
    :param erase: called inside the erasure's transaction to delete the rows for good or
        detach and pseudonymise them (``person.purge``, ``person.scrub``); ``None`` when the
        section is only exported (the rows are erased by another section).
    """

    name: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    files: list[tuple[str, Path]] = field(default_factory=list)
    erase: Callable[[], None] | None = None


@dataclass
class Person:
    """What ``crm_person_data`` receives: one person, found by e-mail address.

    :ivar email: the address asked about, lower case.
    :ivar contacts: every contact with that address (trashed ones too).
    :ivar session: the session of the export or erasure; write with it, never commit.
    :ivar crm: the application's ``CRM``.
    :ivar user: who asked, ``None`` for the command line.
    """

    email: str
    contacts: list[Any]
    session: Session
    crm: CRM
    user: Any = None
    #: ``entity -> ids`` deleted for good so far by ``purge``
    purged: dict[str, set[int]] = field(default_factory=dict)

    @property
    def contact_ids(self) -> list[int]:
        """Ids of the person's contacts."""
        return [c.id for c in self.contacts]

    @cached_property
    def pseudonym(self) -> str:
        """What erased names and addresses become: ``erased-<hash>``, the same for one address."""
        return PSEUDONYM_PREFIX + email_hash(self.crm, self.email)[:12]

    @cached_property
    def terms(self) -> list[str]:
        """The values that identify the person: e-mail addresses, full names and phone numbers.

        A first or last name alone is not a term: "Ana" or "García" would erase other people
        (the person's own records, detached with :meth:`detach`, lose those too). Computed
        once, before anything is erased.
        """
        found: list[str] = [self.email]
        for contact in self.contacts:
            found.extend(_emails(contact))
            if contact.first_name and contact.last_name:
                found.append(f"{contact.first_name.strip()} {contact.last_name.strip()}")
            found.extend(self._phones(contact))
        return _unique(found)

    @cached_property
    def own_terms(self) -> list[str]:
        """``terms`` plus the first and the last names alone: for the person's own records."""
        names = [
            name
            for contact in self.contacts
            for name in (contact.first_name, contact.last_name)
            if name and len(name.strip()) >= 3
        ]
        return _unique([*self.terms, *names])

    @cached_property
    def phone_digits(self) -> list[str]:
        """The person's phone numbers as national digits (``611222333``): written with any
        spacing, dashes or country prefix, they are still found."""
        region = None
        try:
            from ..settings import phone_region

            region = phone_region(self.crm) or None
        except Exception:  # outside an app context: digits only
            region = None
        out = []
        for contact in self.contacts:
            for raw in self._phones(contact):
                digits = _national_digits(raw, region)
                if len(digits) >= 6:
                    out.append(digits)
        return sorted(set(out), key=len, reverse=True)

    @staticmethod
    def _phones(contact: Any) -> list[str]:
        return [
            str(p)
            for p in (contact.phone, contact.mobile, *_values(contact.phones))
            if p and len(re.sub(r"\D", "", str(p))) >= 6
        ]

    def _pattern(self, own: bool) -> re.Pattern[str] | None:
        parts = [re.escape(t) for t in (self.own_terms if own else self.terms)]
        for digits in self.phone_digits:
            # an optional country prefix, then the digits with any separators between them
            parts.append(r"(?:\+\d{1,3}[\s\-.()]*)?(?:0[\s\-.()]*)?" + r"[\s\-.()]*".join(digits))
        if not parts:
            return None
        return re.compile("|".join(parts), re.IGNORECASE)

    @cached_property
    def _scrubber(self) -> re.Pattern[str] | None:
        return self._pattern(own=False)

    @cached_property
    def _own_scrubber(self) -> re.Pattern[str] | None:
        return self._pattern(own=True)

    # helpers for hook implementations ---------------------------------------------------------

    def row(self, record: Any, *, exclude: Iterable[str] = ()) -> dict[str, Any]:
        """A record's columns as a JSON-safe dictionary (secrets left out)."""
        skip = {"password_hash", "token_hash", "totp_secret", *exclude}
        return {
            column.key: jsonable(getattr(record, column.key))
            for column in record.__table__.columns
            if column.key not in skip
        }

    def mentions(self, *columns: Any, own: bool = False) -> Any:
        """A condition true where any of ``columns`` contains one of the person's terms or
        phone numbers (case-insensitive; JSON columns are compared as text)."""
        conditions = []
        for column in columns:
            text = func.lower(cast(column, Text) if not isinstance(column.type, Text) else column)
            for term in self.own_terms if own else self.terms:
                for form in {term.lower(), json.dumps(term.lower())[1:-1]}:
                    # SQLite keeps JSON with non-ASCII letters escaped ("Jos\\u00e9")
                    conditions.append(text.contains(form, autoescape=True))
            bare = text
            for separator in (" ", "-", ".", "(", ")"):
                bare = func.replace(bare, separator, "")
            for digits in self.phone_digits:
                conditions.append(bare.contains(digits))
        return or_(*conditions) if conditions else None

    def scrub(self, value: Any, *, own: bool = False) -> Any:
        """``value`` with each of the person's terms and phone numbers replaced by the
        pseudonym, in strings, lists and dictionaries (keys too). ``own``: the first and last
        names alone too, for the person's own records."""
        pattern = self._own_scrubber if own else self._scrubber
        if pattern is None:
            return value
        if isinstance(value, str):
            return pattern.sub(self.pseudonym, value)
        if isinstance(value, list | tuple):
            return [self.scrub(v, own=own) for v in value]
        if isinstance(value, dict):
            return {self.scrub(k, own=own): self.scrub(v, own=own) for k, v in value.items()}
        return value

    def scrub_rows(
        self, model: Any, columns: Sequence[str], where: Any = None, *, own: bool = False
    ) -> int:
        """Pseudonymise ``columns`` of the rows of ``model`` that mention the person (or that
        match ``where``); returns how many rows were changed."""
        cols = [getattr(model, name) for name in columns]
        condition = where if where is not None else self.mentions(*cols, own=own)
        if condition is None:
            return 0
        changed = 0
        for row in self.session.scalars(select(model).where(condition)):
            for name in columns:
                before = getattr(row, name)
                after = self.scrub(before, own=own)
                if after != before:
                    setattr(row, name, after)
            changed += 1
        self.session.flush()
        return changed

    def linked(self, entity: str, field: str = "contact_id") -> list[Any]:
        """Records of ``entity`` whose ``field`` points at one of the person's contacts,
        trashed ones included."""
        model = self.crm.registry.get(entity).model
        if not self.contact_ids:
            return []
        column = getattr(model, field)
        return list(
            self.session.scalars(
                select(model).where(column.in_(self.contact_ids)).order_by(model.id)
            )
        )

    def detach(self, entity: str, records: Iterable[Any], field: str = "contact_id") -> None:
        """Keep ``records`` (orders and sends count in revenue and results) but cut them from
        the person: ``field`` emptied and the person's terms (their first and last names alone
        too) pseudonymised in every text and JSON column and in the records' audit rows, their
        search documents refreshed."""
        ent = self.crm.registry.get(entity)
        texts = [c.key for c in ent.model.__table__.columns if isinstance(c.type, String | JSON)]
        records = list(records)
        if not records:
            return
        for record in records:
            if field:
                setattr(record, field, None)
            for name in texts:
                before = getattr(record, name)
                after = self.scrub(before, own=True)
                if after != before:
                    setattr(record, name, after)
        self.session.flush()
        ids = [r.id for r in records]
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            where = (AuditEntry.entity == ent.name) & AuditEntry.record_id.in_(chunk)
            self.scrub_rows(AuditEntry, ["changes"], where, own=True)
        for record in records:
            if getattr(record, "deleted_at", None) is None:
                self.crm.search.update(self.session, ent, record)
            else:
                self.crm.search.remove(self.session, ent, record.id)

    def attachments(self, entity: str, ids: Iterable[int]) -> list[Any]:
        """The attachments of records of ``entity`` (singular name)."""
        from ..activities.models import Attachment

        ids = list(ids)
        if not ids:
            return []
        return list(
            self.session.scalars(
                select(Attachment).where(
                    Attachment.record_type == entity, Attachment.record_id.in_(ids)
                )
            )
        )

    def files(self, entity: str, ids: Iterable[int]) -> list[tuple[str, Path]]:
        """``(name, path)`` of the files attached to records of ``entity``, for ``PersonData``."""
        from ..api.attachments import file_path

        return [
            (f"{entity}-{a.record_id}/{a.id}-{_safe_name(a.filename)}", file_path(self.crm, a))
            for a in self.attachments(entity, ids)
        ]

    def purge(self, entity: str, ids: Iterable[int]) -> None:
        """Delete records of ``entity`` (singular name) for good, with what hangs from them:
        their notes, tasks, activities and attachments (files too, after the commit), their
        search documents and the values in their audit rows."""
        from .cascade import purge_records

        ids = [i for i in ids if i not in self.purged.get(entity, set())]
        if not ids:
            return
        purge_records(self.crm, self.session, entity, ids, forget_audit=True)
        self.purged.setdefault(entity, set()).update(ids)

    def forget_audit(self, entity: str, ids: Iterable[int]) -> None:
        """Empty the audit rows of records that are kept but were about the person (their
        values are erased; who changed what when stays)."""
        ids = list(ids)
        if ids:
            self.session.execute(
                update(AuditEntry)
                .where(AuditEntry.entity == entity, AuditEntry.record_id.in_(ids))
                .values(changes={"erased": [None, True]})
            )

    def reindex(self, entity: str, records: Iterable[Any]) -> None:
        """Refresh the search documents of records a plugin pseudonymised."""
        ent = self.crm.registry.get(entity)
        for record in records:
            self.crm.search.update(self.session, ent, record)


def email_hash(crm: Any, email: str) -> str:
    """A keyed hash of an address (HMAC-SHA256 with the instance secret): the erasure record
    keeps it so that a re-import of the address can be flagged, without keeping the address."""
    key = (crm.settings.secret_key or "crm").encode()
    return hmac.new(key, email.strip().lower().encode(), hashlib.sha256).hexdigest()


def scrub_search(person: Person) -> None:
    """Pseudonymise the person's terms in search documents of records that were kept (their
    text is stored lower case without accents)."""
    normalised = [normalise(t) for t in person.terms]
    condition = or_(
        person.mentions(SearchDoc.title, SearchDoc.body),
        *[SearchDoc.body.contains(t, autoescape=True) for t in normalised],
    )
    for doc in person.session.scalars(select(SearchDoc).where(condition)):
        body = doc.body
        for term in normalised:
            body = body.replace(term, person.pseudonym)
        doc.body = person.scrub(body)
        doc.title = person.scrub(doc.title)[:300]


def _national_digits(raw: str, region: str | None) -> str:
    """``+34 611 22 23 33`` -> ``611222333``; the bare digits when phonenumbers cannot read it."""
    import phonenumbers

    try:
        return str(phonenumbers.parse(raw, region).national_number)
    except phonenumbers.NumberParseException:
        return re.sub(r"\D", "", raw)


def _unique(terms: Iterable[str]) -> list[str]:
    unique: dict[str, str] = {}
    for term in terms:
        term = term.strip()
        if len(term) >= 3:
            unique.setdefault(term.casefold(), term)
    # longest first, so "Ana García López" goes before anything it contains
    return sorted(unique.values(), key=len, reverse=True)


def _emails(contact: Any) -> list[str]:
    found = [contact.email] if contact.email else []
    return found + [str(v) for v in _values(contact.emails) if v]


def _values(items: Any) -> list[Any]:
    out = []
    for item in items or ():
        out.append(item.get("value") if isinstance(item, dict) else item)
    return [v for v in out if v]


def _safe_name(name: str) -> str:
    return re.sub(r"[^\w.\- ]", "_", name or "file")[:120] or "file"
