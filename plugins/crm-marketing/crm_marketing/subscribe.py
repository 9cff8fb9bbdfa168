"""Double opt-in subscription: the public form asks, the confirmation link records consent.

1. ``GET /m/subscribe`` shows the form (e-mail, first and last name). Staff hand out
   ``/m/subscribe?list=<token>`` to subscribe people to a static segment as well: the token is
   the segment's id signed with the instance secret (:func:`subscribe_url`, or
   ``GET /api/v1/marketing/subscribe-url?segment_id=N``), so nobody can join a list they were
   not offered. Without ``list`` the form subscribes to the instance's newsletter: the
   contact gets the tag ``newsletter`` (``[marketing] subscribe_tag`` in crm.toml), which a
   dynamic segment ``tags=newsletter`` selects.
2. ``POST /m/subscribe`` (CSRF-protected, honeypot field ``website``, rate-limited per client
   address and per e-mail address) mails a confirmation link and answers "check your inbox",
   the same whether the address is known or not. Nothing is stored yet.
3. ``GET /m/confirm/<token>`` (valid for :data:`crm_marketing.tokens.SUBSCRIBE_DAYS` days)
   creates the contact, or updates the one with that address, through the record service:
   ``consent_at`` (now), ``consent_source = "subscribe-form"``, the newsletter tag or the list
   membership, and clears an earlier opt-out - the only place an opt-out is cleared without
   staff. The form's language becomes the contact's ``locale`` when it has none. A contact
   who opted out *after* the link was sent is left alone (the link is stale). The address is
   proved to receive mail, so an active bounce of it is cleared.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from flask import current_app, request, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from limits import parse_many
from sqlalchemy import func, select, update

from crmcore.contacts.models import Contact
from crmcore.db import utcnow
from crmcore.fields import normalise_email
from crmcore.settings import base_url, get_settings
from crmcore.web.i18n import LANGUAGES

from . import tokens
from .models import Bounce, Segment, SegmentMember

#: the purpose (salt) of the signed list id in ``/m/subscribe?list=...``
LIST = "marketing.list"
CONSENT_SOURCE = "subscribe-form"
DEFAULT_TAG = "newsletter"
#: form posts per client address, and confirmation mails per e-mail address
DEFAULT_RATE = "10 per hour;30 per day"
ADDRESS_RATE = "3 per hour;5 per day"
NAME_MAX = 100
#: confirmation tokens longer than this are made shorter by trimming the names
TOKEN_MAX = 990


def settings(crm: Any) -> dict[str, Any]:
    """The ``[marketing]`` table of crm.toml."""
    value = crm.settings.extra.get("marketing") or {}
    return value if isinstance(value, dict) else {}


def absolute(crm: Any, path: str) -> str:
    """An absolute link on the configured base URL (never the request's host)."""
    return base_url(crm) + path


# the list token --------------------------------------------------------------------------------


def list_token(crm: Any, segment_id: int) -> str:
    """The public token of a static segment, for ``/m/subscribe?list=...``."""
    return tokens.dumps(crm, LIST, [int(segment_id)])


def subscribe_url(crm: Any, segment_id: int | None = None) -> str:
    """The absolute link of the subscription form, for a static segment or the newsletter."""
    args = {"list": list_token(crm, segment_id)} if segment_id is not None else {}
    return absolute(crm, url_for("marketing_public.subscribe", **args))


def list_segment(crm: Any, token: str) -> Segment | None:
    """The live static segment of a list token, or ``None``."""
    payload = tokens.loads(crm, LIST, token)
    if not (isinstance(payload, list) and len(payload) == 1 and _is_id(payload[0])):
        return None
    return live_static_segment(crm.session, payload[0])


def live_static_segment(session: Any, segment_id: Any) -> Segment | None:
    if not _is_id(segment_id):
        return None
    segment = session.get(Segment, segment_id)
    if segment is None or segment.deleted_at is not None or segment.kind != "static":
        return None
    return segment


def _is_id(value: Any) -> bool:
    return type(value) is int and 0 < value < 2**31


# the form ------------------------------------------------------------------------------------


@dataclass
class SubscribeForm:
    """What the form sends; ``website`` is the honeypot (hidden from people)."""

    email: str = ""
    first_name: str = ""
    last_name: str = ""
    website: str = ""

    @classmethod
    def from_request(cls, form: Any) -> SubscribeForm:
        def get(name: str, limit: int) -> str:
            return " ".join(str(form.get(name, "")).split())[:limit]

        return cls(
            get("email", 254),
            get("first_name", NAME_MAX),
            get("last_name", NAME_MAX),
            get("website", 200),
        )

    def validate(self) -> dict[str, str]:
        errors = {}
        try:
            self.email = normalise_email(self.email)
        except ValueError:
            errors["email"] = _("Enter a valid e-mail address.")
        return errors


def allowed(crm: Any, email: str | None = None) -> bool:
    """Count a form post against the client address's limit (and, with ``email``, a
    confirmation mail against that address's); ``False`` once a limit is used up."""
    limiter = crm.limiter.limiter
    if email is None:
        rate = str(settings(crm).get("subscribe_rate") or DEFAULT_RATE)
        key, name = request.remote_addr or "-", "subscribe"
    else:
        rate, key, name = ADDRESS_RATE, email.lower(), "subscribe-address"
    return all(limiter.hit(item, "crm-marketing", name, key) for item in parse_many(rate))


def confirmation_token(
    crm: Any, form: SubscribeForm, segment: Segment | None, lang: str = "en"
) -> str:
    first, last = form.first_name, form.last_name
    while True:
        payload = {
            "e": form.email,
            "f": first,
            "l": last,
            "s": segment.id if segment is not None else None,
            "g": lang,
            "t": int(time.time() * 1000),
        }
        token = tokens.dumps_timed(crm, tokens.SUBSCRIBE, payload)
        if len(token) <= TOKEN_MAX or not (first or last):
            return token
        first, last = first[: len(first) // 2], last[: len(last) // 2]


def send_confirmation(crm: Any, form: SubscribeForm, segment: Segment | None, lang: str) -> None:
    """Mail the confirmation link to ``form.email`` in the page's language."""
    from crmcore import mail

    link = absolute(
        crm, url_for("marketing_public.confirm", token=confirmation_token(crm, form, segment, lang))
    )
    brand = str(get_settings(crm.session).get("company_name") or "") or "CRM"
    with force_locale(lang):
        subject = _("Confirm your subscription to %(brand)s", brand=brand)
        lines = [
            _("Hello,") if not form.first_name else _("Hello %(name)s,", name=form.first_name),
            "",
            _(
                "Someone, hopefully you, asked to receive e-mail from %(brand)s at this address.",
                brand=brand,
            ),
            _("Confirm your subscription here:"),
            link,
            "",
            _("The link works for %(days)d days.", days=tokens.SUBSCRIBE_DAYS),
            _("If you did not ask for this, ignore this message: nothing changes."),
        ]
    message = EmailMessage()
    message["To"] = form.email
    message["Subject"] = " ".join(subject.split())[:200]
    message.set_content("\n".join(lines) + "\n")
    mail.send_or_queue(current_app, message)


def request_subscription(crm: Any, form: SubscribeForm, segment: Segment | None, lang: str) -> bool:
    """Send the confirmation, unless this address had its share of them; ``True`` if sent."""
    if not allowed(crm, form.email):
        return False
    send_confirmation(crm, form, segment, lang)
    return True


# the confirmation -----------------------------------------------------------------------------


@dataclass
class Subscription:
    """A subscription request read back from a confirmation token."""

    email: str
    first_name: str
    last_name: str
    segment_id: int | None
    asked_at: dt.datetime
    #: the language of the form, which becomes the contact's ``locale`` when it has none
    lang: str | None = None


def read_confirmation(crm: Any, token: str) -> Subscription | None:
    """The request of a valid, unexpired confirmation token, else ``None``."""
    data = tokens.loads_timed(crm, tokens.SUBSCRIBE, token, tokens.SUBSCRIBE_DAYS)
    if not isinstance(data, dict):
        return None
    email, first, last = data.get("e"), data.get("f"), data.get("l")
    segment_id, asked = data.get("s"), data.get("t")
    if not (isinstance(email, str) and isinstance(first, str) and isinstance(last, str)):
        return None
    if segment_id is not None and not _is_id(segment_id):
        return None
    if type(asked) is not int:
        return None
    try:
        email = normalise_email(email)
    except ValueError:
        return None
    asked_at = dt.datetime.fromtimestamp(asked / 1000, dt.UTC)
    lang = data.get("g") if data.get("g") in LANGUAGES else None
    return Subscription(email, first[:NAME_MAX], last[:NAME_MAX], segment_id, asked_at, lang)


def contact_of(session: Any, email: str) -> Contact | None:
    """The oldest live contact with this address (in any case)."""
    return session.scalar(
        select(Contact)
        .where(func.lower(Contact.email) == email.lower(), Contact.deleted_at.is_(None))
        .order_by(Contact.id)
        .limit(1)
    )


def confirm(crm: Any, asked: Subscription) -> str:
    """Record the consent of a confirmed request: ``"confirmed"``, ``"already"`` (nothing
    new to record) or ``"stale"`` (the contact opted out after asking: nothing changed)."""
    session = crm.session
    records = crm.records()
    # the newsletter is the tag; someone joining a list consented to that list only
    tag = (
        "" if asked.segment_id else str(settings(crm).get("subscribe_tag", DEFAULT_TAG) or "")[:50]
    )
    consent = {"consent_at": utcnow(), "consent_source": CONSENT_SOURCE}
    contact = contact_of(session, asked.email)
    outcome = "confirmed"
    if contact is None:
        data: dict[str, Any] = {
            "email": asked.email,
            "first_name": asked.first_name,
            "last_name": asked.last_name,
            "source": CONSENT_SOURCE,
        }
        if tag:
            data["tags"] = [tag]
        if asked.lang:
            data["locale"] = asked.lang
        contact = records.create("contacts", data, commit=False, internal=consent)
    else:
        opted_out_at = contact.email_opt_out_at
        if contact.email_opt_out and opted_out_at is not None and opted_out_at > asked.asked_at:
            return "stale"
        changes: dict[str, Any] = {}
        consented = contact.consent_at
        fresh = contact.email_opt_out or consented is None or consented < asked.asked_at
        if not fresh:
            outcome = "already"
        if contact.email_opt_out:
            changes.update(email_opt_out=False, email_opt_out_source=None)
        if not contact.first_name and asked.first_name:
            changes["first_name"] = asked.first_name
        if not contact.last_name and asked.last_name:
            changes["last_name"] = asked.last_name
        if asked.lang and not contact.locale:
            changes["locale"] = asked.lang
        if tag and tag not in (contact.tags or []):
            changes["tags"] = [*(contact.tags or []), tag]
        if changes or fresh:
            internal = consent if fresh else None
            records.update("contacts", contact, changes, commit=False, internal=internal)
    segment = live_static_segment(session, asked.segment_id) if asked.segment_id else None
    if segment is not None:
        member = session.scalar(
            select(SegmentMember.id).where(
                SegmentMember.segment_id == segment.id, SegmentMember.contact_id == contact.id
            )
        )
        if member is None:
            session.add(
                SegmentMember(segment_id=segment.id, contact_id=contact.id, source=CONSENT_SOURCE)
            )
            outcome = "confirmed"
    session.execute(
        update(Bounce)
        .where(Bounce.email == asked.email.lower(), Bounce.active.is_(True))
        .values(active=False)
    )
    records.commit()
    return outcome
