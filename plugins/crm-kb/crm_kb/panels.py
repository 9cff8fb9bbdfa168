"""Panels and dashboard widgets for agents: article suggestions on tickets, article revisions."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from markupsafe import Markup, escape

from crmcore import current_crm

from . import reports, revisions
from .models import KbArticle
from .search import public_url, suggest

TICKET_TEXT_FIELDS = ("subject", "description")


def ticket_suggestions(record: Any, user: Any, records: Any) -> str | None:
    """Published articles (internal and public) matching a ticket's subject and description."""
    if not records.access.can("articles", "read"):
        return None
    text = " ".join(str(getattr(record, f, "") or "") for f in TICKET_TEXT_FIELDS)
    base = records.query("articles").where(KbArticle.status == "published")
    found = suggest(current_crm(), base, text)
    if not found:
        none = escape(_("No matching articles."))
        return f'<p class="empty">{none}</p>'
    items = []
    for article in found:
        link = f'<a href="/articles/{article.id}">{escape(article.title)}</a>'
        if article.visibility == "public":
            url = public_url(article)
            label = escape(_("Link for a reply to %(title)s", title=article.title))
            insert = escape(_("Insert in reply"))
            link += (
                f' <input type="text" readonly value="{escape(url)}" aria-label="{label}"'
                ' class="kb-copy">'
                f' <button type="button" class="kb-insert" data-url="{escape(url)}"'
                f' data-title="{escape(article.title)}">{insert}</button>'
            )
        else:
            internal = escape(_("Internal"))
            link += f' <span class="badge">{internal}</span>'
        items.append(f"<li>{link}</li>")
    script = "/help/assets/kb-insert.js"  # the help centre's assets, served to everyone
    return f'<ul class="kb-panel">{"".join(items)}</ul><script src="{script}" defer></script>'


def article_revisions(record: Any, user: Any, records: Any) -> str | None:
    """The rendered body and the revisions of an article, each with its diff page."""
    rows = revisions.revisions(records.session, record.id)
    names = {r.number: escape(_("Revision %(n)s", n=r.number)) for r in rows}
    heading = escape(_("Revisions"))
    items = "".join(
        f'<li><a href="/kb/articles/{record.id}/revisions/{r.number}">'
        f"{names[r.number]}</a> · "
        f"<time>{escape(r.created_at.strftime('%Y-%m-%d %H:%M') if r.created_at else '')}</time>"
        f"{' · ' + str(escape(r.note)) if r.note else ''}</li>"
        for r in rows
    )
    preview = Markup(record.body_html or "")  # noqa: S704 - sanitised by nh3 when saved
    return (
        f'<div class="kb-preview" lang="{escape(record.language or "")}">{preview}</div>'
        f'<h3>{heading}</h3><ol class="kb-revisions">{items}</ol>'
    )


def widget(report: Any, key: str) -> Any:
    def render(user: Any, records: Any) -> dict[str, Any]:
        data = report(records)
        return {key: data or _("Nothing yet.")}

    return render


WIDGETS = (
    ("kb-most-viewed", "Most viewed articles", reports.most_viewed, "articles"),
    ("kb-least-helpful", "Least helpful articles", reports.least_helpful, "articles"),
    ("kb-content-gaps", "Searches without results", reports.content_gaps, "searches"),
    ("kb-deflections", "Tickets deflected by articles", reports.deflections, "deflections"),
)
