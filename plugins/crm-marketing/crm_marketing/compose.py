"""The message each recipient gets.

:func:`compose` renders a campaign for one contact: subject and HTML in the sandbox
(:mod:`crm_marketing.templating`), the HTML sanitised (:mod:`crm_marketing.htmlmail`), its
``http(s)`` links that :func:`freeze_links` recorded rewritten to per-recipient click
addresses, an open pixel, an unsubscribe link (the template's ``{{ unsubscribe_url }}`` or a
footer added when the template has none), the plain-text part (the campaign's own, or derived
from the HTML), and the headers: ``From``/``Reply-To`` built with
:class:`email.headerregistry.Address` (names are encoded, never concatenated), ``Message-ID``
from the recipient row, ``List-Unsubscribe`` and ``List-Unsubscribe-Post`` (RFC 8058) and
``X-CRM-Campaign``.

Templates are compiled once per campaign version and kept on the app (a small LRU), so a send
renders, sanitises and builds the MIME message and nothing more per recipient.
"""

from __future__ import annotations

import binascii
import secrets
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.headerregistry import Address, BaseHeader, HeaderRegistry
from email.message import EmailMessage, MIMEPart
from email.policy import EmailPolicy
from email.utils import formatdate, make_msgid
from html import escape
from html.parser import HTMLParser
from typing import Any

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from crmcore.contacts.models import Company
from crmcore.web.i18n import contact_locale

from . import htmlmail, templating
from . import links as public_links
from .models import Campaign, CampaignLink

_CACHE_KEY = "crm_marketing.compiled"
_CACHE_SIZE = 64
_JINJA_MARKERS = ("{{", "{%", "{#")
_URL = "\x00url\x00"  # where the footers take the unsubscribe address


class _Registry(HeaderRegistry):
    """The standard header classes, each made once (the stock registry makes a new class
    for every header of every message, a good part of the cost of a message)."""

    def __init__(self) -> None:
        super().__init__()
        self._made: dict[str, type[BaseHeader]] = {}

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()
        made = self._made.get(key)
        if made is None:
            made = self._made[key] = super().__getitem__(name)
        return made


class _Policy(EmailPolicy):
    """``email.policy.default`` that folds each of the headers shared by many messages once
    (:func:`_shared`) instead of once per message."""

    def fold_binary(self, name: str, value: Any) -> bytes:
        folds = getattr(value, "_crm_folds", None)
        if folds is None:
            return super().fold_binary(name, value)
        key = (name, self.linesep, self.max_line_length, self.utf8, self.cte_type)
        folded: bytes | None = folds.get(key)
        if folded is None:
            folded = folds[key] = super().fold_binary(name, value)
        return folded


#: the policy of composed messages (configuration, no app state)
POLICY = _Policy(header_factory=_Registry())


def _shared(name: str, value: Any) -> Any:
    """A header object to put in many messages: parsed once, folded once per policy."""
    header = POLICY.header_factory(name, value)
    header._crm_folds = {}
    return header


_TEXT_PLAIN = _shared("Content-Type", 'text/plain; charset="utf-8"')
_TEXT_HTML = _shared("Content-Type", 'text/html; charset="utf-8"')
_QP = _shared("Content-Transfer-Encoding", "quoted-printable")


class ComposeError(ValueError):
    """A message could not be made (a template that fails for this contact, a bad address)."""


# -- links -------------------------------------------------------------------------------------


class _LinkParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "a":
            return
        href = (dict(attrs).get("href") or "").strip()
        if not href or any(m in href for m in _JINJA_MARKERS):
            return  # a link made per contact cannot be tracked: it is sent as it is
        if href.split(":", 1)[0].lower() in ("http", "https") and href not in self.urls:
            self.urls.append(href)


def link_urls(body_html: str) -> list[str]:
    """The distinct tracked links of a body: ``<a href>`` with an ``http``/``https`` address
    written out in the template (not made by placeholders), in order of appearance."""
    parser = _LinkParser()
    parser.feed(body_html or "")
    parser.close()
    return parser.urls


def freeze_links(session: Session, campaign: Campaign) -> None:
    """Record the campaign's links (:class:`CampaignLink`): clicks redirect only to these.

    Idempotent: links already recorded keep their rows and ids; called when sending starts.
    """
    existing = dict(
        session.execute(
            select(CampaignLink.url, CampaignLink.position).where(
                CampaignLink.campaign_id == campaign.id
            )
        ).all()
    )
    position = max(existing.values(), default=-1) + 1
    for url in link_urls(campaign.body_html):
        if url in existing:
            continue
        session.add(CampaignLink(campaign_id=campaign.id, position=position, url=url))
        existing[url] = position
        position += 1
    session.flush()


def campaign_links(session: Session, campaign_id: int) -> dict[str, int]:
    """``{url: link_id}`` of a campaign, the ``links`` argument of :func:`compose`."""
    rows = session.execute(
        select(CampaignLink.url, CampaignLink.id).where(CampaignLink.campaign_id == campaign_id)
    ).all()
    return {url: link_id for url, link_id in rows}


# -- compiled content --------------------------------------------------------------------------


@dataclass(frozen=True)
class Compiled:
    """A campaign's (or template's) content, compiled once."""

    subject: Any
    html: Any
    #: the campaign's own plain text, compiled; ``None`` to derive it from the HTML
    text: Any | None
    #: the plain text derived from the HTML template (see :func:`htmlmail.text_template`);
    #: ``None`` when each message's HTML is converted instead
    derived_text: Any | None
    sender: Address
    reply_to: Address | None
    name: str
    campaign_id: int | None
    #: the headers every message of this content has, made once
    fixed_headers: tuple[tuple[str, Any], ...] = ()
    sources: tuple[Any, ...] = ()
    #: unsubscribe footers (HTML, text) by language, made on first use
    footers: dict[str, tuple[str, str]] = field(default_factory=dict, compare=False)

    def footer(self, lang: str) -> tuple[str, str]:
        """The unsubscribe footer in ``lang``: HTML and text, ``_URL`` where the link goes."""
        found = self.footers.get(lang)
        if found is None:
            with force_locale(lang):
                question, action = _("Don't want these e-mails?"), _("Unsubscribe")
            found = (
                '<p style="font-size:12px;color:#666666;text-align:center;margin-top:24px">'
                f'{escape(question)} <a href="{_URL}">{escape(action)}</a></p>',
                f"\n\n--\n{question} {action}: {_URL}\n",
            )
            self.footers[lang] = found
        return found


def address(email: str | None, name: str | None = None) -> Address:
    try:
        return Address(display_name=_one_line(name or ""), addr_spec=(email or "").strip())
    except (ValueError, IndexError) as exc:
        raise ComposeError(f"not a valid address: {email!r}") from exc


def _one_line(value: str) -> str:
    return " ".join(value.split())


def _compile(
    crm: Any,
    *,
    subject: str,
    body_html: str,
    body_text: str | None,
    from_email: str | None,
    from_name: str | None,
    reply_to: str | None,
    name: str,
    campaign_id: int | None,
    sources: tuple[Any, ...] = (),
) -> Compiled:
    try:
        compiled_subject = templating.compile_source(subject or "", html=False, strict=False)
        compiled_html = templating.compile_source(body_html or "", html=True, strict=False)
        compiled_text = (
            templating.compile_source(body_text, html=False, strict=False) if body_text else None
        )
    except templating.RenderError as exc:
        raise ComposeError(str(exc)) from exc
    sender = address(from_email or crm.settings.mail_from, from_name)
    reply = address(reply_to) if reply_to else None
    fixed = [("From", sender)] + ([("Reply-To", reply)] if reply is not None else [])
    fixed.append(("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))
    if campaign_id is not None:
        fixed.append(("X-CRM-Campaign", str(campaign_id)))
    fixed.append(("MIME-Version", "1.0"))
    # one boundary for every message of this content: "=_" never occurs in quoted-printable,
    # so it cannot occur in a part; parsing a new one per message was a tenth of a send
    fixed.append(("Content-Type", f'multipart/alternative; boundary="=_{secrets.token_hex(16)}"'))
    return Compiled(
        subject=compiled_subject,
        html=compiled_html,
        text=compiled_text,
        derived_text=None if compiled_text else _derived_text(body_html or "", compiled_html),
        sender=sender,
        reply_to=reply,
        name=name,
        campaign_id=campaign_id,
        fixed_headers=tuple((n, _shared(n, v)) for n, v in fixed),
        sources=sources,
    )


def _derived_text(body_html: str, compiled_html: Any) -> Any | None:
    """The plain-text template of an HTML template, when it renders the same text as
    converting the rendered HTML does (checked on the sample contact); else ``None``."""
    source = htmlmail.text_template(body_html)
    if source is None:
        return None
    try:
        derived = templating.compile_source(source, html=False, strict=False)
        got = templating.render_compiled(derived, templating.SAMPLE)
        html = templating.render_compiled(compiled_html, templating.SAMPLE)
    except templating.RenderError:
        return None
    expected = htmlmail.to_text(htmlmail.sanitize(html))
    return derived if got.split() == expected.split() else None


class _Cache:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.items: OrderedDict[tuple[Any, ...], Compiled] = OrderedDict()

    def get(self, key: tuple[Any, ...]) -> Compiled | None:
        with self.lock:
            found = self.items.get(key)
            if found is not None:
                self.items.move_to_end(key)
            return found

    def put(self, key: tuple[Any, ...], value: Compiled) -> None:
        with self.lock:
            self.items[key] = value
            while len(self.items) > _CACHE_SIZE:
                self.items.popitem(last=False)


def _cached(crm: Any, kind: str, record: Any, values: dict[str, Any]) -> Compiled:
    """Compiled content from the app's cache: keyed by record and version, and used only
    when its sources are still the same (a rolled-back record's id can come back)."""
    cache = crm.app.extensions.setdefault(_CACHE_KEY, _Cache())
    key = (kind, record.id, record.version)
    sources = tuple(values.values())
    found = cache.get(key)
    if found is None or found.sources != sources:
        found = _compile(crm, sources=sources, **values)
        cache.put(key, found)
    return found


def compiled(crm: Any, campaign: Campaign) -> Compiled:
    """The campaign's content compiled, cached per campaign version on the app."""
    return _cached(
        crm,
        "campaign",
        campaign,
        {
            "subject": campaign.subject,
            "body_html": campaign.body_html,
            "body_text": campaign.body_text,
            "from_email": campaign.from_email,
            "from_name": campaign.from_name,
            "reply_to": campaign.reply_to,
            "name": campaign.name,
            "campaign_id": campaign.id,
        },
    )


def compiled_template(crm: Any, template: Any) -> Compiled:
    """An e-mail template's content compiled (previews and test messages of templates); the
    sender is the instance's ``mail_from``."""
    return _cached(
        crm,
        "template",
        template,
        {
            "subject": template.subject,
            "body_html": template.body_html,
            "body_text": template.body_text,
            "from_email": None,
            "from_name": None,
            "reply_to": None,
            "name": template.name,
            "campaign_id": None,
        },
    )


# -- rendering ---------------------------------------------------------------------------------


@dataclass
class Rendered:
    """A message's parts, before they become MIME."""

    subject: str
    html: str
    text: str


def _company(contact: Any) -> Any:
    if contact is None:
        return None
    if "company" in getattr(contact, "__dict__", {}):
        return contact.__dict__["company"]
    company_id = getattr(contact, "company_id", None)
    session = object_session(contact)
    if company_id is None or session is None:
        return None
    return session.get(Company, company_id)


def context_for(content: Compiled, contact: Any, unsubscribe_url: str) -> dict[str, Any]:
    """The template context of one contact (``None``: the sample contact of previews)."""
    if contact is None:
        context = dict(templating.SAMPLE)
        context["campaign"] = templating.Fields("campaign", {"name": content.name})
        context["unsubscribe_url"] = unsubscribe_url
        return context
    return templating.message_context(contact, _company(contact), content.name, unsubscribe_url)


def render_parts(
    crm: Any,
    content: Compiled,
    context: Mapping[str, Any],
    *,
    unsubscribe_url: str,
    recipient_id: int | None = None,
    links_by_url: Mapping[str, int] | None = None,
    lang: str | None = None,
) -> Rendered:
    """Subject, sanitised HTML document and plain text for one context; ``lang`` is the
    language of the unsubscribe footer (default: the instance's).

    With ``recipient_id``, the links of ``links_by_url`` become click addresses and an open
    pixel is added; without, links stay as written (previews and test messages).
    """
    try:
        subject = _one_line(templating.render_compiled(content.subject, context))
        body = templating.render_compiled(content.html, context)
        own_text = (
            templating.render_compiled(content.text, context) if content.text is not None else None
        )
    except templating.RenderError as exc:
        raise ComposeError(str(exc)) from exc
    originals: dict[str, str] = {}
    rewrite = None
    if recipient_id is not None and links_by_url:

        def rewrite(href: str) -> str | None:
            link_id = links_by_url.get(href.strip())
            if link_id is None:
                return None
            tracked = public_links.click_url(crm, recipient_id, link_id)
            originals[tracked] = href
            return tracked

    clean = htmlmail.sanitize(body, rewrite)
    if own_text is not None:
        text = own_text
    elif content.derived_text is not None:
        try:
            text = templating.render_compiled(content.derived_text, context)
        except templating.RenderError:
            text = htmlmail.to_text(clean, originals)
    else:
        text = htmlmail.to_text(clean, originals)
    text = text.rstrip() + "\n"
    lang = lang or contact_locale(crm.app, None)
    if escape(unsubscribe_url) not in clean:
        clean += "\n" + content.footer(lang)[0].replace(_URL, escape(unsubscribe_url))
    if unsubscribe_url not in text:
        text = text.rstrip("\n") + content.footer(lang)[1].replace(_URL, unsubscribe_url)
    if recipient_id is not None:
        pixel = escape(public_links.open_url(crm, recipient_id))
        clean += f'\n<img src="{pixel}" width="1" height="1" alt="" style="display:block">'
    return Rendered(subject=subject, html=htmlmail.document(clean, subject, lang), text=text)


def _part(content_type: Any, body: str) -> MIMEPart:
    """A text part, quoted-printable (binascii's encoder: fast, and readable by filters)."""
    part = MIMEPart(policy=POLICY)
    part["Content-Type"] = content_type
    part["Content-Transfer-Encoding"] = _QP
    part.set_payload(binascii.b2a_qp(body.encode("utf-8"), istext=True).decode("ascii"))
    return part


def build_message(
    content: Compiled,
    parts: Rendered,
    *,
    to: Address,
    unsubscribe_url: str,
    message_id: str,
) -> EmailMessage:
    """The MIME message: ``multipart/alternative`` of the text and the HTML, both UTF-8 and
    quoted-printable."""
    message = EmailMessage(policy=POLICY)
    try:
        message["Subject"] = parts.subject
        message["To"] = to
        message["Date"] = formatdate(usegmt=True)
        message["Message-ID"] = message_id
        message["List-Unsubscribe"] = f"<{unsubscribe_url}>"
        for name, value in content.fixed_headers:
            message[name] = value
        message.set_payload([_part(_TEXT_PLAIN, parts.text), _part(_TEXT_HTML, parts.html)])
    except (ValueError, TypeError) as exc:
        raise ComposeError(f"the message cannot be built: {exc}") from exc
    return message


def new_message_id(crm: Any) -> str:
    """A fresh ``Message-ID`` on the sender's domain."""
    domain = crm.settings.mail_from.rpartition("@")[2] or "localhost"
    return make_msgid(domain=domain)


def compose(
    crm: Any, campaign: Campaign, recipient: Any, contact: Any, links: Mapping[str, int]
) -> EmailMessage:
    """The message of one recipient (a :class:`~crm_marketing.models.Recipient`).

    ``links`` is ``{url: link_id}`` of the campaign (:func:`campaign_links`). The
    ``Message-ID`` is ``recipient.message_id``; when the row has none yet, one is made and set
    on it (the caller's commit stores it). Raises :class:`ComposeError` when the message
    cannot be made for this contact.
    """
    content = compiled(crm, campaign)
    return _compose_for(crm, content, recipient, contact, links)


def _compose_for(
    crm: Any, content: Compiled, recipient: Any, contact: Any, links_by_url: Mapping[str, int]
) -> EmailMessage:
    if contact is None:  # never the sample contact's values in a real message
        raise ComposeError("the recipient's contact no longer exists")
    unsubscribe = public_links.unsubscribe_url(
        crm, recipient.id, contact_id=contact.id, campaign_id=recipient.campaign_id
    )
    context = context_for(content, contact, unsubscribe)
    parts = render_parts(
        crm,
        content,
        context,
        unsubscribe_url=unsubscribe,
        recipient_id=recipient.id,
        links_by_url=links_by_url,
        lang=contact_locale(crm.app, contact),
    )
    if not recipient.message_id:
        recipient.message_id = new_message_id(crm)
    name = f"{contact.first_name or ''} {contact.last_name or ''}"
    to = address(recipient.email, name)
    return build_message(
        content, parts, to=to, unsubscribe_url=unsubscribe, message_id=recipient.message_id
    )


def preview_context(crm: Any, content: Compiled, contact: Any, company: Any = None) -> Any:
    """The context of a preview or test message: ``contact`` (``None``: the sample contact)
    and the ``company`` the viewer may see, with an unsubscribe link that belongs to nobody."""
    unsubscribe = public_links.preview_unsubscribe_url(crm)
    if contact is None:
        return context_for(content, None, unsubscribe)
    return templating.message_context(contact, company, content.name, unsubscribe)


def preview_parts(crm: Any, content: Compiled, context: Mapping[str, Any], lang: str) -> Rendered:
    """A message as a preview shows it: rendered for ``context`` (:func:`preview_context`),
    sanitised, links as written, no pixel."""
    return render_parts(
        crm, content, context, unsubscribe_url=context["unsubscribe_url"], lang=lang
    )


def trial_message(
    crm: Any, content: Compiled, to_email: str, context: Mapping[str, Any], lang: str
) -> EmailMessage:
    """A test message to ``to_email``: the preview's parts, the subject prefixed ``[Test]``,
    no tracking; ``List-Unsubscribe`` names the preview's link that belongs to nobody."""
    parts = preview_parts(crm, content, context, lang)
    parts.subject = f"[Test] {parts.subject}"
    return build_message(
        content,
        parts,
        to=address(to_email),
        unsubscribe_url=context["unsubscribe_url"],
        message_id=new_message_id(crm),
    )
