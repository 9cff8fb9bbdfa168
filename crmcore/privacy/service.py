"""Export and erasure of one person, gathered from every plugin through ``crm_person_data``."""

from __future__ import annotations

import datetime as dt
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import Text, cast, func, or_, select, text
from sqlalchemy.orm import Session

from ..audit import AuditEntry, record_audit
from ..contacts.models import Contact
from ..errors import NotFound, ValidationError
from ..plugin_state import PluginState
from .person import Person, PersonData, email_hash

if TYPE_CHECKING:
    from ..app import CRM

#: the audit trail's entity for rows about a person rather than one record
AUDIT_ENTITY = "person"


@dataclass
class Gathered:
    """A person and every plugin's section about them, in load order."""

    person: Person
    sections: list[tuple[str, PersonData]] = field(default_factory=list)

    @property
    def found(self) -> bool:
        return bool(self.person.contacts) or any(data.rows for _p, data in self.sections)

    def counts(self) -> dict[str, int]:
        return {data.name: len(data.rows) for _p, data in self.sections if data.rows}


def clean_email(value: str) -> str:
    """The address in lower case; ``ValidationError`` when it is not an address."""
    try:
        return validate_email((value or "").strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        raise ValidationError({"email": ["Not a valid e-mail address."]}) from None


def participating_plugins(crm: CRM, session: Session) -> list[str]:
    """Plugins whose rows take part: the enabled ones, and the disabled ones that were enabled
    once (their tables and rows are still there)."""
    known = set(session.scalars(select(PluginState.name)))
    return [
        name for name, plugin in crm.plugins.plugins.items() if plugin.meta.builtin or name in known
    ]


def gather(crm: CRM, session: Session, email: str, user: Any = None) -> Gathered:
    """Find the person with ``email`` and ask every participating plugin what it holds."""
    email = clean_email(email)
    lowered = func.lower(Contact.email)
    contacts = list(
        session.scalars(
            select(Contact)
            .where(
                or_(
                    lowered == email,
                    func.lower(cast(Contact.emails, Text)).contains(
                        json.dumps(email)[1:-1], autoescape=True
                    ),
                )
            )
            .order_by(Contact.id)
        )
    )
    # a JSON text match may be a longer address containing this one
    contacts = [
        c
        for c in contacts
        if (c.email or "").lower() == email
        or email in [str(_value(v)).lower() for v in (c.emails or ())]
    ]
    person = Person(email=email, contacts=contacts, session=session, crm=crm, user=user)
    sections = crm.plugins.collect(
        "crm_person_data", enabled=participating_plugins(crm, session), person=person
    )
    return Gathered(person, sections)


def _value(item: Any) -> Any:
    return item.get("value") if isinstance(item, dict) else item


def _user_id(user: Any) -> int | None:
    return getattr(user, "id", None)


def export_person(
    crm: CRM, session: Session, email: str, out: IO[bytes], *, user: Any = None
) -> Gathered:
    """Write a ZIP of everything held about the person to ``out`` and audit the export.

    The archive holds ``person.json`` (every section's rows, by section name), one
    ``data/<section>.json`` per section and the files under ``files/<section>/``. Raises
    ``NotFound`` when nothing is held about the address.
    """
    found = gather(crm, session, email, user)
    if not found.found:
        raise NotFound("Nothing is held about %(email)s.", params={"email": found.person.email})
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    document: dict[str, Any] = {
        "email": found.person.email,
        "generated_at": now,
        "sections": {},
    }
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for plugin, data in found.sections:
            if not data.rows and not data.files:
                continue
            document["sections"][data.name] = data.rows
            archive.writestr(
                f"data/{data.name}.json",
                json.dumps(
                    {"plugin": plugin, "rows": data.rows}, indent=2, ensure_ascii=False, default=str
                ),
            )
            for name, path in data.files:
                if path.is_file():
                    archive.write(path, f"files/{data.name}/{name}")
        archive.writestr(
            "person.json", json.dumps(document, indent=2, ensure_ascii=False, default=str)
        )
    _audit(session, "export", found, user)
    session.commit()
    return found


def erase_person(crm: CRM, session: Session, email: str, *, user: Any = None) -> Gathered:
    """Erase the person with ``email`` for good, in one transaction, and keep a minimal record.

    Every plugin's ``erase`` runs in reverse load order - a plugin's before those of the
    plugins it requires, the core's last - so plugins still find the contacts their rows
    point at. Raises ``NotFound`` (and changes nothing) when nothing is held about the address.
    """
    found = gather(crm, session, email, user)
    if not found.found:
        raise NotFound("Nothing is held about %(email)s.", params={"email": found.person.email})
    sqlite = crm.engine.dialect.name == "sqlite"
    if sqlite:
        # freed pages are overwritten, so the erased values do not linger in the file
        session.execute(text("PRAGMA secure_delete=ON"))
    _ = found.person.terms  # computed from the contacts before they are deleted
    erasers: list[Callable[[], None]] = [
        data.erase for _p, data in reversed(found.sections) if data.erase is not None
    ]
    try:
        for erase in erasers:
            erase()
            session.flush()
        _audit(session, "erase", found, user)
        session.commit()
    except Exception:
        session.rollback()
        raise
    if sqlite:
        # FTS5 keeps deleted terms in its segments until they are merged
        session.execute(text("INSERT INTO core_search_fts(core_search_fts) VALUES('optimize')"))
        session.commit()
    return found


def _audit(session: Session, action: str, found: Gathered, user: Any) -> None:
    record_audit(
        session,
        AUDIT_ENTITY,
        0,
        action,
        _user_id(user),
        {
            "email_hash": (None, email_hash(found.person.crm, found.person.email)),
            "sections": (None, found.counts()),
        },
    )


def was_erased(crm: CRM, session: Session, email: str) -> bool:
    """Whether a person with this address was erased (to flag a re-import or a new contact)."""
    return email_hash(crm, email) in erased_digests(session)


def erased_digests(session: Session) -> set[str]:
    """The keyed hashes of every erased address (one query; compare ``email_hash``)."""
    rows = session.scalars(
        select(AuditEntry.changes).where(
            AuditEntry.entity == AUDIT_ENTITY, AuditEntry.action == "erase"
        )
    )
    return {
        str(digest) for row in rows if (digest := (row or {}).get("email_hash", [None, None])[1])
    }
