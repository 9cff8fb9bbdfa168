"""The Duplicates page of contacts and companies (``/<plural>/duplicates``), linked from their
list pages: the stored pairs in the reader's scope, and "Find duplicates now"."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from ..app import current_crm
from ..errors import PermissionDenied
from ..records import RecordService
from .api import PLURALS
from .hints import reason_labels
from .merge_page import merge_view
from .pairs import entity_with_rules, page, parse_cursor, parse_limit


def _service() -> RecordService:
    return current_crm().records(g.crm_access)


def make_blueprint() -> Blueprint:
    """The web blueprint of the Duplicates pages."""
    bp = Blueprint("web_duplicates", __name__)

    @bp.route("/<plural>/duplicates")
    def index(plural: str) -> Any:
        entity = _entity(plural)
        service = _service()
        pairs, next_cursor = page(
            service,
            entity,
            parse_limit(request.args.get("limit")),
            parse_cursor(request.args.get("cursor")),
        )
        return render_template(
            "core/duplicates.html",
            entity=entity,
            pairs=pairs,
            next_cursor=next_cursor,
            reasons=reason_labels(),
            can_scan=service.access.can(entity, "update"),
        )

    @bp.route("/<plural>/duplicates/scan", methods=["POST"])
    def scan(plural: str) -> Any:
        entity = _entity(plural)
        service = _service()
        if not service.access.can(entity, "update"):
            raise PermissionDenied(_("You may not look for duplicates here."))
        service.session.commit()  # end the request's transaction: the job writes in its own
        current_crm().jobs.enqueue("crmcore.duplicates.scan:scan_job", entity.name)
        flash(_("Looking for duplicates; reload this page in a moment."), "success")
        return redirect(url_for("web_duplicates.index", plural=entity.plural), 303)

    @bp.route("/<plural>/duplicates/merge/<int:keep_id>/<int:other_id>", methods=["GET", "POST"])
    def merge(plural: str, keep_id: int, other_id: int) -> Any:
        return merge_view(_service(), _entity(plural), keep_id, other_id)

    @bp.app_context_processor
    def duplicates_link() -> dict[str, Any]:
        def duplicates_url(entity: Any) -> str | None:
            """The Duplicates page of ``entity`` when it has one (list pages link to it)."""
            plural = getattr(entity, "plural", None)
            if plural not in PLURALS:
                return None
            return url_for("web_duplicates.index", plural=plural)

        return {"duplicates_url": duplicates_url}

    return bp


def _entity(plural: str) -> Any:
    if plural not in PLURALS:
        from ..errors import NotFound

        raise NotFound(_("No such page."))
    return entity_with_rules(_service(), plural)
