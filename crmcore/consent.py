"""A contact's consent to marketing e-mail: the core's unsubscribe links.

Opt-out is the contact's choice, not a feature of one module: a link in a message already sent
must keep working when the plugin that sent it is disabled. So the core owns the unsubscribe
address (``/u/<token>``, see :mod:`crmcore.web.consent`) and its token; a plugin that sends
marketing mail makes its links with :func:`unsubscribe_url` and learns of each unsubscribe
through the ``crm_contact_unsubscribed`` hook while it is enabled.

The token is signed with the instance secret for this purpose only and never expires (a message
read a year later still unsubscribes). It carries ``[contact_id, origin, ref, label]``: the
contact, the plugin that sent the message (``origin``), that plugin's own id of the message
(``ref``: a campaign recipient...) and a short ``label`` kept in the opt-out source
(``unsubscribe:<label>``, e.g. ``unsubscribe:campaign:12``).

A plugin's own older public links (sent before this module existed) can survive the plugin being
disabled too: :func:`keep_when_disabled` marks a view with a core-run fallback that answers
instead of the 404 of a disabled plugin's route.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import func, select

from . import settings
from .contacts.models import Contact

log = logging.getLogger(__name__)

PURPOSE = "crm.unsubscribe"
PATH = "/u/{token}"
_MAX_TOKEN = 1000
_MAX_TEXT = 60
#: a transparent 1x1 GIF: what an open pixel of a disabled plugin still shows
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


@dataclass(frozen=True)
class Unsubscribe:
    """What an unsubscribe token names."""

    contact_id: int
    origin: str
    ref: int
    label: str


@dataclass
class UnsubscribeEvent:
    """What ``crm_contact_unsubscribed`` receives, after the opt-out was committed.

    :ivar contact: the contact of the link (opted out now or earlier).
    :ivar origin: the plugin that sent the message (``"marketing"``).
    :ivar ref: that plugin's id of the message (a campaign recipient's id for marketing).
    :ivar one_click: ``True`` for an RFC 8058 one-click request of a mail client.
    :ivar changed: the contacts opted out by this request (empty when all already were).
    :ivar records: the system's record service, for follow-up writes.
    """

    contact: Any
    origin: str
    ref: int
    one_click: bool
    changed: list[Any]
    records: Any = field(repr=False)


def _serializer(crm: Any) -> URLSafeSerializer:
    return URLSafeSerializer(crm.settings.secret_key, salt=PURPOSE)


def dumps(crm: Any, contact_id: int, origin: str, ref: int, label: str = "") -> str:
    """The token of one message's unsubscribe link."""
    return str(_serializer(crm).dumps([contact_id, origin, ref, label or origin]))


def loads(crm: Any, token: str) -> Unsubscribe | None:
    """What a genuine token names; ``None`` for a forged, altered, foreign or malformed one."""
    if not token or len(token) > _MAX_TOKEN:
        return None
    serializer = _serializer(crm)
    try:
        payload = serializer.loads(token)
    except BadSignature:
        return None
    # only the spelling we issue (base64 lets the last character's unused bits vary)
    if serializer.dumps(payload) != token:
        return None
    if not isinstance(payload, list) or len(payload) != 4:
        return None
    contact_id, origin, ref, label = payload
    if not (type(contact_id) is int and 0 < contact_id < 2**31):
        return None
    if not (type(ref) is int and 0 <= ref < 2**31):
        return None
    if not (isinstance(origin, str) and isinstance(label, str)):
        return None
    if len(origin) > _MAX_TEXT or len(label) > _MAX_TEXT:
        return None
    return Unsubscribe(contact_id, origin, ref, label)


def unsubscribe_url(crm: Any, contact_id: int, origin: str, ref: int, label: str = "") -> str:
    """The absolute unsubscribe address of one message (also its ``List-Unsubscribe``),
    on the instance's ``base_url``, never on a request's ``Host``."""
    token = dumps(crm, contact_id, origin, ref, label)
    return settings.base_url(crm) + PATH.format(token=token)


def same_address_contacts(
    session: Any, contact: Contact | None, email: str | None = None
) -> list[Contact]:
    """The contact and every other live contact with the same e-mail address (``email``, or
    the contact's own), in any case (one look-up of ``lower(email)``'s index)."""
    found: dict[int, Contact] = {contact.id: contact} if contact is not None else {}
    address = (email or (contact.email if contact is not None else None) or "").strip()
    if address:
        stmt = (
            select(Contact)
            .where(func.lower(Contact.email) == address.lower(), Contact.deleted_at.is_(None))
            .order_by(Contact.id)
            .limit(50)
        )
        for row in session.scalars(stmt):
            found.setdefault(row.id, row)
    return list(found.values())


def is_opted_out(contact: Contact) -> bool:
    return bool(contact.email_opt_out)


def unsubscribe(crm: Any, link: Unsubscribe, one_click: bool = False) -> Contact | None:
    """Opt the link's contact (and every contact with its address) out of marketing e-mail
    through the record service, commit, then tell the enabled plugins
    (``crm_contact_unsubscribed``). Idempotent: an earlier opt-out keeps its time and source.
    ``None`` when the contact no longer exists."""
    session = crm.session
    contact = session.get(Contact, link.contact_id)
    if contact is None:
        return None
    how = "one-click" if one_click else "unsubscribe"
    source = f"{how}:{link.label}"[:100]
    records = crm.records()
    changed = []
    for each in same_address_contacts(session, contact):
        if not each.email_opt_out:
            values = {"email_opt_out": True, "email_opt_out_source": source}
            records.update("contacts", each, values, commit=False)
            changed.append(each)
    records.commit()
    event = UnsubscribeEvent(contact, link.origin, link.ref, one_click, changed, records)
    try:
        crm.hook("crm_contact_unsubscribed")(event=event)
    except Exception:  # the opt-out stands whatever a plugin's bookkeeping does
        log.exception("a crm_contact_unsubscribed hook failed")
        session.rollback()
    return contact


def keep_when_disabled(fallback: Callable[..., Any]) -> Callable[[Any], Any]:
    """Mark a plugin's public view (a link in mail already sent) with ``fallback``: while the
    plugin is disabled the core calls ``fallback(**view_args)`` instead of answering 404.

    The fallback must only read (the plugin is disabled: its hooks do not run) and answer
    harmlessly: a pixel for an open, the stored link or a neutral page for a click, the core's
    unsubscribe page for an unsubscribe link.
    """

    def mark(view: Any) -> Any:
        view.crm_when_disabled = fallback
        return view

    return mark
