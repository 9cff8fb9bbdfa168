"""Public pages under ``/m``: tracking, unsubscribe and the double opt-in subscription form.

Nobody signs in to them; what a visitor may do is carried by signed tokens
(:mod:`crm_marketing.tokens`), each made for one purpose, so an open token is worthless as an
unsubscribe token. A forged, altered or foreign token changes nothing and gets the same
answer as a random one: the GIF for the open pixel, otherwise one neutral "link not valid"
page (404) that says nothing of whom or what the token names.

========================  ====================================================================
``GET /m/o/<t>.gif``      open pixel: a 1x1 GIF, never cached; counts an open
``GET /m/c/<t>``          click: 302 to the link of *that recipient's campaign* the token names
``GET /m/u/<t>``          unsubscribe (messages sent before the core's ``/u/<t>``): a page
``POST /m/u/<t>``         unsubscribe (the button, or RFC 8058 ``List-Unsubscribe=One-Click``)
``GET|POST /m/subscribe`` the subscription form; ``?list=<token>`` adds a static segment
``GET /m/confirm/<t>``    confirms a subscription (see :mod:`crm_marketing.subscribe`)
========================  ====================================================================

New messages carry the core's unsubscribe link (:mod:`crmcore.consent`); its
``crm_contact_unsubscribed`` hook lands in :func:`recipient_unsubscribed`. Opt-out is the
contact's consent, so links in mail already sent keep working while this plugin is disabled
(:func:`crmcore.consent.keep_when_disabled`): ``/m/u`` answers with the core's unsubscribe page,
the pixel is still shown and a click still leads to its link, and nothing is counted.

``POST /m/u/<t>`` is the one CSRF-exempt view: RFC 8058 has mail clients post it without
cookies, and there is nothing of a session to abuse - the token alone names the recipient.
The subscription form is CSRF-protected, has a honeypot and a rate limit.
"""

from __future__ import annotations

import base64
import logging
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, redirect, render_template, request, url_for
from flask_babel import force_locale
from sqlalchemy import update

from crmcore import CRMError, consent, current_crm
from crmcore.contacts.models import Contact
from crmcore.db import utcnow
from crmcore.settings import get_settings
from crmcore.web import consent as consent_pages
from crmcore.web.i18n import LANGUAGES
from crmcore.web.security import csrf_exempt, public

from . import subscribe as subscription
from . import tokens
from .events import opt_out, record_event
from .models import CampaignLink, Recipient

log = logging.getLogger(__name__)

#: a transparent 1x1 GIF
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
MAX_URL = 8000
NO_STORE = "no-store"


# helpers ---------------------------------------------------------------------------------------


def page_language(preferred: str | None = None) -> str:
    """``?lang=`` when it names a language of the CRM; else ``preferred`` (the contact's
    ``locale``); else the browser's choice."""
    for chosen in (request.args.get("lang", ""), preferred):
        if chosen in LANGUAGES:
            return str(chosen)
    return request.accept_languages.best_match(list(LANGUAGES)) or "en"


def render(template: str, status: int = 200, lang: str | None = None, **context: Any) -> Response:
    """A public page in the visitor's language; never cached, never indexed."""
    crm = current_crm()
    lang = lang or page_language()
    brand = str(get_settings(crm.session).get("company_name") or "") or "CRM"
    with force_locale(lang):
        html = render_template(
            template, lang=lang, brand=brand, languages=LANGUAGES, lang_url=lang_url, **context
        )
    response = Response(html, status=status, mimetype="text/html")
    response.headers["Cache-Control"] = NO_STORE
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    response.vary.add("Accept-Language")
    return response


def lang_url(code: str) -> str:
    """This page in another language."""
    args = {k: v for k, v in request.args.items() if k != "lang"}
    if request.form.get("list"):
        args["list"] = request.form["list"]
    endpoint = request.endpoint or "marketing_public.subscribe"
    return url_for(endpoint, **(request.view_args or {}), **args, lang=code)


def not_valid() -> Response:
    """The one answer to every token that does not check out (no hint of why)."""
    return render("marketing/public_error.html", 404, reason="link")


def token_ids(purpose: str, token: str, count: int) -> list[int] | None:
    """The ids a token of ``purpose`` carries, when it is genuine and well formed."""
    crm = current_crm()
    payload = tokens.loads(crm, purpose, token)
    if not isinstance(payload, list) or len(payload) != count:
        return None
    if not all(type(i) is int and 0 < i < 2**31 for i in payload):
        return None
    return payload


def recipient_of(purpose: str, token: str, count: int = 1) -> tuple[Recipient, list[int]] | None:
    ids = token_ids(purpose, token, count)
    if ids is None:
        return None
    recipient = current_crm().session.get(Recipient, ids[0])
    return (recipient, ids) if recipient is not None else None


def safe_target(url: str | None) -> bool:
    """Only absolute http(s) links without spaces or control characters are followed."""
    if not url or len(url) > MAX_URL:
        return False
    if any(ord(c) <= 32 or c in "\\\x7f" for c in url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def masked(email: str | None) -> str:
    """``j•••@example.com``: enough for the owner to recognise, little for anyone else."""
    local, _sep, domain = (email or "").partition("@")
    if not domain:
        return ""
    return f"{local[:1]}•••@{domain}"


def unsubscribe_recipient(crm: Any, recipient: Recipient, one_click: bool) -> None:
    """Opt the recipient's address out (idempotent): the recipient's ``unsubscribed_at`` and
    event the first time, and every contact with that address."""
    session = crm.session
    how = "one-click" if one_click else "unsubscribe"
    source = f"{how}:campaign:{recipient.campaign_id}"
    first = session.execute(
        update(Recipient)
        .where(Recipient.id == recipient.id, Recipient.unsubscribed_at.is_(None))
        .values(unsubscribed_at=utcnow())
        .execution_options(synchronize_session="fetch")
    ).rowcount
    if first:
        record_event(session, recipient, "unsubscribe", detail=how)
    contact = session.get(Contact, recipient.contact_id) if recipient.contact_id else None
    records = crm.records()
    for each in consent.same_address_contacts(session, contact, recipient.email):
        opt_out(crm, each, source, records=records, commit=False)
    records.commit()


def already_unsubscribed(crm: Any, recipient: Recipient) -> bool:
    if recipient.unsubscribed_at is not None:
        return True
    contact = crm.session.get(Contact, recipient.contact_id) if recipient.contact_id else None
    return bool(contact is not None and contact.email_opt_out)


def recipient_unsubscribed(event: Any) -> None:
    """``crm_contact_unsubscribed``: the recipient whose message carried the core's link gets
    its ``unsubscribed_at`` and an ``unsubscribe`` event (the first time)."""
    if event.origin != "marketing":
        return
    session = event.records.session
    recipient = session.get(Recipient, event.ref)
    if recipient is None or recipient.contact_id != event.contact.id:
        return
    first = session.execute(
        update(Recipient)
        .where(Recipient.id == recipient.id, Recipient.unsubscribed_at.is_(None))
        .values(unsubscribed_at=utcnow())
        .execution_options(synchronize_session="fetch")
    ).rowcount
    if first:
        record_event(
            session,
            recipient,
            "unsubscribe",
            detail="one-click" if event.one_click else "unsubscribe",
        )
    session.commit()


# while the plugin is disabled (read only: its hooks do not run, nothing is counted) -----------


def _disabled_open(token: str) -> Response:
    return consent_pages.pixel()


def _disabled_click(token: str) -> Response:
    """The link the token names, when it still checks out; else a neutral page."""
    found = recipient_of(tokens.CLICK, token, 2)
    if found is None:
        return consent_pages.link_gone()
    recipient, (_rid, link_id) = found
    link = current_crm().session.get(CampaignLink, link_id)
    if link is None or link.campaign_id != recipient.campaign_id or not safe_target(link.url):
        return consent_pages.link_gone()
    response = redirect(link.url, 302)
    response.headers["Cache-Control"] = NO_STORE
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _disabled_unsubscribe(token: str) -> Response:
    """An older ``/m/u`` link answered by the core's unsubscribe page."""
    found = recipient_of(tokens.UNSUBSCRIBE, token)
    link = None
    if found is not None and found[0].contact_id is not None:
        recipient = found[0]
        label = f"campaign:{recipient.campaign_id}"
        link = consent.Unsubscribe(recipient.contact_id, "marketing", recipient.id, label)
    return consent_pages.answer(link, token)


# pages -----------------------------------------------------------------------------------------


def make_blueprint() -> Blueprint:
    """The ``marketing_public`` blueprint (``/m``): public, no sign-in."""
    bp = Blueprint("marketing_public", __name__, url_prefix="/m", template_folder="templates")

    @bp.route("/o/<token>.gif")
    @public
    @consent.keep_when_disabled(_disabled_open)
    def open_pixel(token: str) -> Any:
        crm = current_crm()
        if request.method == "GET":  # HEAD (link checkers) counts nothing
            try:
                found = recipient_of(tokens.OPEN, token)
                if found is not None:
                    record_event(crm.session, found[0], "open")
                    crm.session.commit()
            except Exception:  # the picture is shown whatever happens to the counting
                log.exception("recording an open failed")
                crm.session.rollback()
        response = Response(PIXEL, mimetype="image/gif")
        response.headers["Cache-Control"] = NO_STORE
        response.headers["X-Robots-Tag"] = "noindex, nofollow"
        return response

    @bp.route("/c/<token>")
    @public
    @consent.keep_when_disabled(_disabled_click)
    def click(token: str) -> Any:
        crm = current_crm()
        found = recipient_of(tokens.CLICK, token, 2)
        if found is None:
            return not_valid()
        recipient, (_rid, link_id) = found
        link = crm.session.get(CampaignLink, link_id)
        if link is None or link.campaign_id != recipient.campaign_id or not safe_target(link.url):
            return not_valid()
        if request.method == "GET":
            record_event(crm.session, recipient, "click", link_id=link.id)
            crm.session.commit()
        response = redirect(link.url, 302)
        response.headers["Cache-Control"] = NO_STORE
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    @bp.route("/u/<token>", methods=["GET", "POST"])
    @public
    @csrf_exempt
    @consent.keep_when_disabled(_disabled_unsubscribe)
    def unsubscribe(token: str) -> Any:
        crm = current_crm()
        found = recipient_of(tokens.UNSUBSCRIBE, token)
        if found is None:
            return not_valid()
        recipient = found[0]
        email = masked(recipient.email)
        contact = crm.session.get(Contact, recipient.contact_id) if recipient.contact_id else None
        lang = page_language(contact.locale if contact is not None else None)
        if request.method == "POST":
            one_click = request.form.get("List-Unsubscribe") == "One-Click"
            unsubscribe_recipient(crm, recipient, one_click)
            done = "marketing/public_unsubscribed.html"
            return render(done, lang=lang, email=email, again=False)
        if already_unsubscribed(crm, recipient):
            done = "marketing/public_unsubscribed.html"
            return render(done, lang=lang, email=email, again=True)
        return render("marketing/public_unsubscribe.html", lang=lang, email=email, token=token)

    @bp.route("/subscribe", methods=["GET", "POST"])
    @public
    def subscribe() -> Any:
        crm = current_crm()
        list_token = str(request.values.get("list", ""))
        segment = subscription.list_segment(crm, list_token) if list_token else None
        if list_token and segment is None:
            return render("marketing/public_error.html", 404, reason="list")
        form = subscription.SubscribeForm()
        errors: dict[str, str] = {}
        limited = False
        if request.method == "POST":
            form = subscription.SubscribeForm.from_request(request.form)
            if not subscription.allowed(crm):
                limited = True
            else:
                errors = form.validate()
                if not errors:
                    if not form.website:  # the honeypot: people never see it, bots fill it in
                        subscription.request_subscription(crm, form, segment, page_language())
                    return render("marketing/public_check_inbox.html")
        status = 429 if limited else 422 if errors else 200
        return render(
            "marketing/public_subscribe.html",
            status,
            form=form,
            errors=errors,
            limited=limited,
            list_token=list_token,
            segment=segment,
        )

    @bp.route("/confirm/<token>")
    @public
    def confirm(token: str) -> Any:
        crm = current_crm()
        asked = subscription.read_confirmation(crm, token)
        if asked is None:
            return render("marketing/public_error.html", 404, reason="confirm")
        lang = page_language(asked.lang)
        try:
            outcome = subscription.confirm(crm, asked)
        except CRMError:  # the records refused it (a veto of another plugin...): nothing changed
            log.warning("a subscription of %s could not be recorded", asked.email, exc_info=True)
            crm.session.rollback()
            return render("marketing/public_error.html", 422, lang, reason="refused")
        if outcome == "stale":
            return render("marketing/public_error.html", 409, lang, reason="stale")
        return render("marketing/public_confirmed.html", lang=lang, already=outcome == "already")

    return bp
