"""The public help centre at ``/help``: anonymous, cacheable, published public articles only."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    redirect,
    render_template,
    request,
    send_from_directory,
    session,
    url_for,
)
from flask_babel import force_locale
from limits import parse
from markupsafe import Markup
from sqlalchemy import select

from crmcore import current_crm, parsing
from crmcore.links import absolute_url_for, base_url
from crmcore.settings import get_settings

from . import stats
from .models import LANGUAGES, KbArticle, KbCategory
from .render import slug_problem
from .search import public_articles, related, search, suggest

STATIC = Path(__file__).parent / "static"
LANGUAGE_NAMES = {"en": "English", "es": "Español"}
MAX_AGE = 300
SEARCH_MAX_AGE = 60
LIST_LIMIT = 30
FEEDBACK_RATE = "10/minute"
SUGGEST_RATE = "120/minute"
MAX_VOTES_KEPT = 200


def public(view: Any) -> Any:
    """Reachable without signing in: the attribute the core's sign-in check looks for."""
    view.crm_public = True
    return view


# helpers --------------------------------------------------------------------------------------


def language() -> str:
    """``?lang=`` if valid, else the browser's choice (never the session: pages are shared)."""
    chosen = request.args.get("lang", "")
    if chosen in LANGUAGES:
        return chosen
    return request.accept_languages.best_match(list(LANGUAGES)) or "en"


def lang_url(code: str) -> str:
    args = {k: v for k, v in request.args.items() if k != "lang"}
    return url_for(
        request.endpoint or "kb_help.index", **(request.view_args or {}), **args, lang=code
    )


def render(template: str, lang: str, **context: Any) -> str:
    crm = current_crm()
    brand = get_settings(crm.session).get("company_name") or ""
    with force_locale(lang):
        return render_template(
            template,
            lang=lang,
            brand=brand,
            languages=LANGUAGE_NAMES,
            lang_url=lang_url,
            **context,
        )


def cached(html: str, max_age: int = MAX_AGE, last_modified: Any = None) -> Response:
    """A public, cacheable answer with an ETag (and Last-Modified), 304 when unchanged."""
    response = Response(html, mimetype="text/html")
    response.cache_control.public = True
    response.cache_control.max_age = max_age
    response.set_etag(hashlib.sha256(html.encode()).hexdigest()[:32])
    if last_modified is not None:
        response.last_modified = last_modified
    response.vary.add("Accept-Language")
    return response.make_conditional(request)


def find_article(ref: str) -> KbArticle:
    """A public article by id or slug (the visitor's language first); 404 otherwise."""
    session = current_crm().session
    stmt = public_articles()
    if parsing.is_whole(ref):
        article_id = parsing.record_id(ref)
        if article_id is None:
            abort(404)
        stmt = stmt.where(KbArticle.id == article_id)
    else:
        if len(ref) > 200 or slug_problem(ref):
            abort(404)
        stmt = stmt.where(KbArticle.slug == ref)
        stmt = stmt.order_by((KbArticle.language == language()).desc(), KbArticle.id)
    article = session.scalars(stmt.limit(1)).first()
    if article is None:
        abort(404)
    return article


def in_language(stmt: Any, lang: str) -> Any:
    return stmt.where(KbArticle.language == lang)


def top_categories(session: Any) -> list[KbCategory]:
    return list(
        session.scalars(
            select(KbCategory)
            .where(KbCategory.deleted_at.is_(None), KbCategory.parent_id.is_(None))
            .order_by(KbCategory.position, KbCategory.name)
        )
    )


def category_path(session: Any, category_id: int | None) -> list[KbCategory]:
    path: list[KbCategory] = []
    while category_id is not None and len(path) < 20:
        category = session.get(KbCategory, category_id)
        if category is None or category.deleted_at is not None:
            break
        path.insert(0, category)
        category_id = category.parent_id
    return path


def translations(session: Any, article: KbArticle) -> list[KbArticle]:
    """The other public language versions of an article."""
    root = article.translation_of_id or article.id
    # the ids come from the translation_of_id index alone: planners that count NULLs as one
    # value (SQLite's ANALYZE) would otherwise scan the table; an OR would too
    ids = select(KbArticle.id).where(KbArticle.translation_of_id == root)
    siblings = public_articles().where(KbArticle.id.in_(ids), KbArticle.id != article.id)
    found = list(session.scalars(siblings))
    if article.translation_of_id is not None:
        found[:0] = session.scalars(public_articles().where(KbArticle.id == root))
    return found


def limited(name: str, rate: str) -> bool:
    """Whether this client went over ``rate`` for ``name`` (counted in the CRM's limiter)."""
    limiter = current_crm().limiter
    return not limiter.limiter.hit(parse(rate), "crm-kb", name, request.remote_addr or "-")


def voted() -> list[int]:
    return [int(i) for i in session.get("kb_votes", []) if isinstance(i, int)]


# pages ----------------------------------------------------------------------------------------


def make_blueprint() -> Blueprint:
    bp = Blueprint("kb_help", __name__, url_prefix="/help", template_folder="templates")

    @bp.route("/assets/<path:filename>")
    @public
    def asset(filename: str) -> Any:
        return send_from_directory(STATIC, filename, max_age=3600)

    @bp.route("/")
    @public
    def index() -> Any:
        session, lang = current_crm().session, language()
        newest = public_articles().order_by(KbArticle.published_at.desc(), KbArticle.id.desc())
        popular = list(session.scalars(in_language(newest, lang).limit(LIST_LIMIT)))
        if not popular:  # nothing in this language yet: show every language
            popular = list(session.scalars(newest.limit(LIST_LIMIT)))
        html = render(
            "kb/help_index.html", lang, categories=top_categories(session), articles=popular
        )
        return cached(html)

    @bp.route("/categories/<slug>")
    @public
    def category(slug: str) -> Any:
        session, lang = current_crm().session, language()
        found = None
        if len(slug) <= 150 and not slug_problem(slug):
            found = session.scalar(
                select(KbCategory).where(KbCategory.slug == slug, KbCategory.deleted_at.is_(None))
            )
        if found is None:
            abort(404)
        children = list(
            session.scalars(
                select(KbCategory)
                .where(KbCategory.parent_id == found.id, KbCategory.deleted_at.is_(None))
                .order_by(KbCategory.position, KbCategory.name)
            )
        )
        stmt = public_articles().where(KbArticle.category_id == found.id)
        articles = list(session.scalars(in_language(stmt, lang).order_by(KbArticle.title)))
        if not articles:  # nothing in this language yet: show every language
            articles = list(session.scalars(stmt.order_by(KbArticle.title).limit(LIST_LIMIT)))
        html = render(
            "kb/help_category.html",
            lang,
            category=found,
            path=category_path(session, found.parent_id),
            children=children,
            articles=articles,
        )
        return cached(html)

    @bp.route("/articles/<ref>")
    @public
    def article(ref: str) -> Any:
        crm = current_crm()
        session, lang = crm.session, language()
        found = find_article(ref)
        html = render(
            "kb/help_article.html",
            lang,
            article=found,
            body=Markup(found.body_html),  # noqa: S704 - sanitised by nh3 when saved
            path=category_path(session, found.category_id),
            translations=translations(session, found),
            related=related(session, found),
            # cached for everyone: never built from the request's Host header
            canonical=absolute_url_for("kb_help.article", ref=found.slug),
            canonical_base=base_url(),
        )
        response = cached(html, last_modified=found.updated_at)
        if request.method == "GET":
            article_id = found.id
            session.commit()  # end the reading transaction before counting
            stats.count_view(session, article_id)
        return response

    @bp.route("/search")
    @public
    def search_page() -> Any:
        crm = current_crm()
        lang = language()
        query = request.args.get("q", "").replace("\x00", "")[:200]
        results = search(crm, public_articles(), query, limit=LIST_LIMIT) if query else []
        results.sort(key=lambda a: a.language != lang)
        html = render("kb/help_search.html", lang, q=query, results=results)
        response = cached(html, max_age=SEARCH_MAX_AGE)
        if query and request.method == "GET":
            crm.session.commit()
            stats.log_search(crm.session, query, len(results), "help")
        return response

    @bp.route("/articles/<int:article_id>/feedback", methods=["GET", "POST"])
    @public
    def feedback(article_id: int) -> Any:
        crm = current_crm()
        lang = language()
        found = find_article(str(article_id))
        done = found.id in voted()
        if request.method == "POST" and not done:
            choice = request.form.get("helpful")
            if choice not in ("yes", "no"):
                abort(400)
            if limited("feedback", FEEDBACK_RATE):
                abort(429)
            session["kb_votes"] = [*voted(), found.id][-MAX_VOTES_KEPT:]
            found_id = found.id
            crm.session.commit()
            stats.add_vote(crm.session, found_id, choice == "yes")
            done = True
            found = find_article(str(found_id))
        fragment = bool(request.headers.get("HX-Request"))
        template = "kb/_feedback.html" if fragment else "kb/help_feedback.html"
        return render(template, lang, article=found, done=done)

    @bp.route("/suggest")
    @public
    def suggest_fragment() -> Any:
        """Suggestions for a text being typed (the portal's new-ticket form), as a fragment."""
        crm = current_crm()
        if limited("suggest", SUGGEST_RATE):
            abort(429)
        # the portal's form sends its fields as they are named: subject and description
        typed = [request.args.get(k, "") for k in ("q", "subject", "description")]
        text = " ".join(t for t in typed if t).replace("\x00", "")[:2000]
        source = request.args.get("source", "portal")[:20]
        found = suggest(crm, public_articles(), text) if text else []
        return render(
            "kb/_suggestions.html", language(), articles=found, q=text[:200], source=source
        )

    @bp.route("/go/<int:article_id>")
    @public
    def go(article_id: int) -> Any:
        """Open a suggested article, counting the deflection."""
        crm = current_crm()
        found = find_article(str(article_id))
        target = url_for("kb_help.article", ref=found.slug, lang=found.language)
        found_id = found.id
        crm.session.commit()
        stats.add_deflection(
            crm.session,
            found_id,
            request.args.get("q", "")[:200],
            request.args.get("source", "portal")[:20],
        )
        return redirect(target, 303)

    return bp
