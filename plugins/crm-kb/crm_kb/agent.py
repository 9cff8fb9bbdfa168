"""Pages for signed-in agents: a revision's diff and restoring it."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, g, redirect, render_template
from flask_babel import gettext as _

from crmcore import current_crm

from . import revisions


def make_blueprint() -> Blueprint:
    bp = Blueprint("kb", __name__, url_prefix="/kb", template_folder="templates")

    @bp.route("/articles/<int:article_id>/revisions/<int:number>")
    def revision(article_id: int, number: int) -> Any:
        records = current_crm().records(g.crm_access)
        article = records.get("articles", article_id)
        rev = revisions.revision(records.session, article.id, number)
        return render_template(
            "kb/revision.html",
            article=article,
            revision=rev,
            diff=revisions.diff(revisions.previous(records.session, rev), rev),
            can_restore=records.access.allows_record(
                records.entity("articles"), "update", article, records.session
            ),
        )

    @bp.route("/articles/<int:article_id>/revisions/<int:number>/restore", methods=["POST"])
    def restore(article_id: int, number: int) -> Any:
        records = current_crm().records(g.crm_access)
        revisions.restore(records, article_id, number)
        flash(_("Revision %(n)s restored.", n=number), "success")
        return redirect(f"/articles/{article_id}", 303)

    return bp
