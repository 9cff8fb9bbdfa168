"""The kb plugin: articles, categories, revisions, the public help centre and suggestions.

Thin on purpose: each hook returns what the modules beside it define.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crmcore import (
    MenuItem,
    Panel,
    Permission,
    Plugin,
    RoleGrant,
    Widget,
    hookimpl,
)

if TYPE_CHECKING:
    from crmcore import Entity

PLUGIN = Plugin(
    name="kb",
    title="Knowledge base",
    version="0.1.0",
    requires=["contacts"],
    core=">=1,<2",
    description="Articles, categories, revisions, a public help centre and article suggestions.",
)


@hookimpl
def crm_entities() -> list[Entity]:
    """Articles and categories."""
    from crmcore import Entity

    from .actions import article_actions
    from .logic import prepare_article, prepare_category
    from .models import KbArticle, KbCategory
    from .schemas import ArticleSchema, CategorySchema

    return [
        Entity(
            name="article",
            model=KbArticle,
            schema=ArticleSchema,
            plural="articles",
            title="Article",
            title_fields=("title",),
            search_fields=("title", "summary", "body"),
            list_columns=("title", "status", "visibility", "language", "category_id"),
            filter_fields=("slug", "translation_of_id", "author_id", "reviewer_id"),
            sort_fields=("published_at",),
            prepare=prepare_article,
            actions=article_actions(),
        ),
        Entity(
            name="category",
            model=KbCategory,
            schema=CategorySchema,
            plural="categories",
            title="Category",
            title_plural="Categories",
            title_fields=("name",),
            search_fields=("name", "description"),
            list_columns=("name", "parent_id", "position"),
            filter_fields=("slug",),
            owner_field=None,
            prepare=prepare_category,
        ),
    ]


@hookimpl
def crm_permissions() -> list[Permission]:
    """Publishing and the reports."""
    return [
        Permission("kb.publish", "Publish and archive knowledge-base articles"),
        Permission("kb.reports", "See knowledge-base reports"),
    ]


@hookimpl
def crm_role_grants() -> list[RoleGrant]:
    """Agents write articles, managers publish them, everyone reads them."""
    edit = {"read": "all", "create": "all", "update": "all", "delete": "own"}
    return [
        RoleGrant("support_agent", entity="articles", actions=edit),
        RoleGrant("support_agent", entity="categories", actions={"read": "all"}),
        RoleGrant("support_agent", permission="kb.reports"),
        RoleGrant("sales_rep", entity="articles", actions={"read": "all"}),
        RoleGrant("sales_rep", entity="categories", actions={"read": "all"}),
        RoleGrant("manager", permission="kb.publish"),
        RoleGrant("manager", permission="kb.reports"),
    ]


@hookimpl
def crm_blueprints() -> list[Any]:
    """The help centre (public), the agents' revision pages and the REST extras."""
    from . import agent, api, help

    return [help.make_blueprint(), agent.make_blueprint(), api.make_blueprint()]


@hookimpl
def crm_menu_items() -> list[MenuItem]:
    """Articles for agents; the help centre for everyone signed in."""
    return [
        MenuItem("Articles", "/articles", permission="articles.read", order=60),
        MenuItem("Help centre", "/help/", permission="articles.read", order=61),
    ]


@hookimpl
def crm_record_panels() -> list[Panel]:
    """Suggested articles on tickets (support plugin), preview and revisions on articles."""
    from .panels import article_revisions, ticket_suggestions

    return [
        Panel("kb-suggestions", "Suggested articles", "ticket", ticket_suggestions,
              permission="articles.read", order=50),
        Panel("kb-revisions", "Preview and revisions", "article", article_revisions, order=10),
    ]  # fmt: skip


@hookimpl
def crm_dashboard_widgets() -> list[Widget]:
    """The reports, for users allowed to see them."""
    from .panels import WIDGETS, widget

    return [
        Widget(name, title, widget(report, key), permission="kb.reports", order=70 + i)
        for i, (name, title, report, key) in enumerate(WIDGETS)
    ]


@hookimpl(trylast=True)
def crm_validate_record(event: Any) -> None:
    """Record a revision when an article's title or body changes (last, after every veto)."""
    if event.entity.name != "article":
        return  # before the import: the hook runs for every record written (an import's too)
    from .revisions import record_revision

    record_revision(event)


@hookimpl
def crm_demo_data(ctx: Any) -> None:
    """A few categories and articles in English and Spanish."""
    from .demo import create_demo

    create_demo(ctx)


@hookimpl
def crm_person_data(person: Any) -> list[Any]:
    """Help-centre searches that name the person (the knowledge base keeps no accounts)."""
    from . import privacy

    return privacy.person_data(person)
