"""The core's public unsubscribe page ``/u/<token>`` (see :mod:`crmcore.consent`).

========================  ====================================================================
``GET /u/<t>``            a confirmation page with a button (changes nothing: link checkers
                          and mail scanners follow links)
``POST /u/<t>``           unsubscribe: the button, or a mail client's RFC 8058
                          ``List-Unsubscribe=One-Click`` request (without cookies)
========================  ====================================================================

Nobody signs in. ``POST`` is CSRF-exempt: RFC 8058 clients post without cookies and there is
nothing of a session to abuse, the signed token alone names the contact. A forged, altered or
foreign token changes nothing and gets one neutral "link not valid" page (404) that names nobody.
The page is in the contact's language (``?lang=`` overrides it), never cached nor indexed, and
works whichever plugin sent the message, enabled or not.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, render_template, request
from flask_babel import force_locale

from .. import consent
from ..app import current_crm
from ..contacts.models import Contact
from ..settings import get_settings
from .i18n import LANGUAGES
from .security import csrf_exempt, public

NO_STORE = "no-store"


def masked(email: str | None) -> str:
    """``j•••@example.com``: enough for the owner to recognise, little for anyone else."""
    local, _sep, domain = (email or "").partition("@")
    return f"{local[:1]}•••@{domain}" if domain else ""


def _language(contact: Any) -> str:
    chosen = request.args.get("lang", "")
    if chosen in LANGUAGES:
        return chosen
    if contact is not None and getattr(contact, "locale", None) in LANGUAGES:
        return str(contact.locale)
    return request.accept_languages.best_match(list(LANGUAGES)) or "en"


def render(template: str, status: int = 200, contact: Any = None, **context: Any) -> Response:
    """A public page in the contact's (or the visitor's) language; never cached or indexed."""
    crm = current_crm()
    lang = _language(contact)
    brand = str(get_settings(crm.session).get("company_name") or "") or "CRM"
    with force_locale(lang):
        html = render_template(
            template, lang=lang, brand=brand, languages=LANGUAGES, path=request.path, **context
        )
    response = Response(html, status=status, mimetype="text/html")
    response.headers["Cache-Control"] = NO_STORE
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.vary.add("Accept-Language")
    return response


def pixel() -> Response:
    """The open pixel of a module that is switched off: shown, nothing counted."""
    response = Response(consent.PIXEL, mimetype="image/gif")
    response.headers["Cache-Control"] = NO_STORE
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response


def link_gone() -> Response:
    """A tracked link of a module that is switched off, whose target the core cannot find."""
    return render("web/consent/link_gone.html", 404)


def not_valid() -> Response:
    """The one answer to every link that does not check out (no hint of why)."""
    return render("web/consent/not_valid.html", 404)


def answer(link: consent.Unsubscribe | None, token: str) -> Response:
    """The unsubscribe page for ``link`` (``None``: not valid): ask on GET, act on POST.

    Also the answer a disabled plugin's older unsubscribe links get (through
    :func:`crmcore.consent.keep_when_disabled`), so ``token`` is the one to post back to.
    """
    crm = current_crm()
    contact = crm.session.get(Contact, link.contact_id) if link is not None else None
    if link is None or contact is None:
        return not_valid()
    email = masked(contact.email)
    if request.method == "POST":
        already = consent.is_opted_out(contact)
        consent.unsubscribe(crm, link, request.form.get("List-Unsubscribe") == "One-Click")
        contact = crm.session.get(Contact, link.contact_id)
        done = "web/consent/unsubscribed.html"
        return render(done, contact=contact, email=email, again=already)
    if consent.is_opted_out(contact):
        done = "web/consent/unsubscribed.html"
        return render(done, contact=contact, email=email, again=True)
    action = request.path
    lang = request.args.get("lang", "")
    if lang in LANGUAGES:
        action += f"?lang={lang}"
    return render("web/consent/unsubscribe.html", contact=contact, email=email, action=action)


def make_blueprint() -> Blueprint:
    """The ``consent`` blueprint (``/u``): public, no sign-in, core-owned."""
    bp = Blueprint("consent", __name__, url_prefix="/u")

    @bp.route("/<token>", methods=["GET", "POST"])
    @public
    @csrf_exempt
    def unsubscribe(token: str) -> Any:
        return answer(consent.loads(current_crm(), token), token)

    return bp
