"""REST endpoints beyond the generic ones: revisions, suggestions, deflections and reports."""

from __future__ import annotations

from typing import Any

from flask import abort, g, request
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from crmcore import NotFound, PermissionDenied, ValidationError, current_crm, parsing
from crmcore.links import absolute_url_for
from crmcore.parsing import MAX_ID

from . import reports, revisions, stats
from .help import SUGGEST_RATE, limited, public
from .models import KbArticle
from .search import public_articles, public_url, suggest

REPORTS = {
    "most-viewed": reports.most_viewed,
    "least-helpful": reports.least_helpful,
    "content-gaps": reports.content_gaps,
    "deflections": reports.deflections,
}
REPORTS_PERMISSION = "kb.reports"


class RevisionOut(Schema):
    number = fields.Integer()
    title = fields.String()
    user_id = fields.Integer(allow_none=True)
    note = fields.String()
    created_at = fields.String()
    body = fields.String()
    diff = fields.String()


class RevisionList(Schema):
    data = fields.List(fields.Nested(RevisionOut))


class Suggestion(Schema):
    id = fields.Integer()
    title = fields.String()
    summary = fields.String()
    language = fields.String()
    visibility = fields.String()
    url = fields.String(metadata={"description": "Help-centre page (public articles)"})
    open_url = fields.String(metadata={"description": "Opens the page and counts a deflection"})


class SuggestionList(Schema):
    data = fields.List(fields.Nested(Suggestion))


class DeflectionIn(Schema):
    article_id = fields.Integer(required=True, strict=True, validate=validate.Range(1, MAX_ID))
    query = fields.String(load_default="", validate=validate.Length(0, 200))
    source = fields.String(load_default="portal", validate=validate.Length(1, 20))


def _records() -> Any:
    return current_crm().records(g.crm_access)


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    number = parsing.whole_number(request.args.get(name, str(default)))
    if number is None:
        raise ValidationError({name: ["Must be a whole number."]})
    return min(max(number, low), high)


def suggestion(article: KbArticle, query: str, source: str) -> dict[str, Any]:
    public = article.visibility == "public"
    return {
        "id": article.id,
        "title": article.title,
        "summary": article.summary,
        "language": article.language,
        "visibility": article.visibility,
        "url": public_url(article) if public else None,
        "open_url": absolute_url_for(
            "kb_help.go", article_id=article.id, q=query[:200], source=source
        )
        if public
        else None,
    }


def make_blueprint() -> Blueprint:
    blp = Blueprint("kb_api", __name__, url_prefix="/api/v1", description="Knowledge base")

    @blp.route("/articles/<int:article_id>/revisions")
    @blp.response(200, RevisionList)
    @blp.doc(summary="Revisions of an article, newest first")
    def revision_list(article_id: int) -> Any:
        records = _records()
        article = records.get("articles", article_id)
        return {
            "data": [revisions.as_dict(r) for r in revisions.revisions(records.session, article.id)]
        }

    @blp.route("/articles/<int:article_id>/revisions/<int:number>")
    @blp.response(200, RevisionOut)
    @blp.doc(summary="One revision with its body and the diff from the one before")
    def revision_detail(article_id: int, number: int) -> Any:
        records = _records()
        article = records.get("articles", article_id)
        rev = revisions.revision(records.session, article.id, number)
        out = revisions.as_dict(rev, with_body=True)
        out["diff"] = revisions.diff(revisions.previous(records.session, rev), rev)
        return out

    @blp.route("/articles/<int:article_id>/revisions/<int:number>/restore", methods=["POST"])
    @blp.response(200, RevisionList)
    @blp.doc(summary="Restore the title and body of a revision (recorded as a new revision)")
    def revision_restore(article_id: int, number: int) -> Any:
        records = _records()
        article = revisions.restore(records, article_id, number)
        return {
            "data": [revisions.as_dict(r) for r in revisions.revisions(records.session, article.id)]
        }

    @blp.route("/kb/suggest")
    @blp.response(200, SuggestionList)
    @blp.doc(
        summary="Articles answering a text (deflection); anonymous callers get public ones",
        security=[{}, {"bearerAuth": []}],
        parameters=[{"in": "query", "name": "q", "required": True, "schema": {"type": "string"}}],
    )
    @public
    def suggest_view() -> Any:
        crm = current_crm()
        if limited("suggest", SUGGEST_RATE):
            abort(429)
        text = request.args.get("q", "")[:2000]
        limit = _int_arg("limit", 5, 1, 20)
        source = request.args.get("source", "api")[:20]
        access = g.get("crm_access")
        if access is not None and access.can("articles", "read"):
            base = crm.records(access).query("articles").where(KbArticle.status == "published")
        else:
            base = public_articles()
        found = suggest(crm, base, text, limit) if text.strip() else []
        return {"data": [suggestion(a, text, source) for a in found]}

    @blp.route("/kb/deflections", methods=["POST"])
    @blp.arguments(DeflectionIn)
    @blp.response(201)
    @blp.doc(
        summary="Count a suggested article that a customer opened",
        security=[{}, {"bearerAuth": []}],
    )
    @public
    def deflection(data: dict[str, Any]) -> Any:
        crm = current_crm()
        if limited("deflection", SUGGEST_RATE):
            abort(429)
        found = crm.session.scalar(public_articles().where(KbArticle.id == data["article_id"]))
        if found is None:
            raise ValidationError({"article_id": ["No such public article."]})
        stats.add_deflection(crm.session, found.id, data["query"], data["source"])
        return {"article_id": found.id}

    @blp.route("/kb/reports/<name>")
    @blp.response(200)
    @blp.doc(
        summary="most-viewed, least-helpful, content-gaps or deflections",
        parameters=[
            {"in": "query", "name": "days", "schema": {"type": "integer"}},
            {"in": "query", "name": "limit", "schema": {"type": "integer"}},
        ],
    )
    def report(name: str) -> Any:
        if name not in REPORTS:
            raise NotFound(f"No report called {name!r}.")
        if not g.crm_access.has(REPORTS_PERMISSION):
            raise PermissionDenied("You may not see knowledge-base reports.")
        days, limit = _int_arg("days", 30, 1, 3650), _int_arg("limit", 10, 1, 100)
        return {"data": REPORTS[name](_records(), days=days, limit=limit)}

    return blp
