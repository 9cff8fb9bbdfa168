"""The entity registry: what a plugin declares once, and everything the core derives from it."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from marshmallow import RAISE, Schema, ValidationError, fields, missing
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import InstrumentedAttribute

from .columns import ColumnChecks
from .contributions import ACTIONS
from .loading import LoaderCache, load_values
from .plugins import PluginConflictError

if TYPE_CHECKING:
    from .actions import RecordAction

#: Fields the core manages; never written from input.
SYSTEM_FIELDS = ("id", "created_at", "updated_at", "version", "deleted_at")


class RecordSchema(Schema):
    """Base for entity schemas: the system fields, read-only, and unknown input refused."""

    class Meta:
        unknown = RAISE
        ordered = True

    id = fields.Integer(dump_only=True)
    created_at = fields.AwareDateTime(dump_only=True)
    updated_at = fields.AwareDateTime(dump_only=True)


@dataclass(eq=False)
class Entity:
    """A record type: a typed SQLAlchemy model, a marshmallow schema and how to present it.

    :param name: singular identifier (``contact``), unique across plugins.
    :param plural: the REST collection (``/api/v1/contacts``) and permission prefix
        (``contacts.read``).
    :param title_fields: fields joined to display a record (``("first_name", "last_name")``).
    :param search_fields: fields indexed for full-text search.
    :param list_columns: default columns of lists; also sortable and filterable.
    :param owner_field: the column holding the owning user, or ``None`` when records have no
        owner (then only the ``all`` scope gives access).
    :param sort_fields: extra fields lists may be sorted by (allow-list).
    :param filter_fields: extra fields lists may be filtered by (allow-list).
    :param prepare: ``prepare(data, record, service)`` adjusts validated input before it is
        applied (hash a password, derive a field); raise ``ValidationError`` to refuse.
        ``record`` is ``None`` on create.
    :param eager: relationships loaded with every query of the entity (one extra query per
        page, never one per row), for fields the schema dumps from related rows.
    :param actions: the entity's :class:`crmcore.RecordAction` list (convert, send...): each
        gets an endpoint, a button, an audit row (see ``crmcore.actions``).
    :param linked_to: for records attached to another record (notes, attachments), the
        ``(entity_column, id_column)`` naming it: such a record is readable only when the record
        it is attached to is readable too, besides the record's own scope.
    :param translated_titles: whether records' titles are message ids that the catalogues
        translate (the built-in roles' titles), so pages show them in the reader's language.
    :param references: fields holding the id of another record, by field name: the target
        entity's name (``{"template_id": "email_template"}``), a
        ``crmcore.references.Polymorphic("record_type")``, or ``None`` for an ``_id`` field
        that is not a reference. Fields named ``<entity>_id`` need no entry; see
        ``crmcore.references`` for every rule.
    :param api_create: whether ``POST /api/v1/<plural>`` creates records (``False`` when a
        dedicated endpoint must, like file uploads).
    :param prefill: ``prefill(args, service)`` returns the values a new record's form starts
        with that follow from its query string (``/quotes/new?deal_id=5``: the deal's contact,
        company and currency); read through ``service``, so only what the user may read.
    :param editor_url: the address of the plugin's own editor for the entity (a builder the
        generated form cannot be): ``/<plural>/new`` sends the user to ``<editor_url>/new``
        (query string kept) and ``/<plural>/<id>/edit`` to ``<editor_url>/<id>/edit``.
    """

    name: str
    model: type[Any]
    schema: type[Schema]
    plural: str
    title: str
    title_plural: str = ""
    title_fields: tuple[str, ...] = ("name",)
    search_fields: tuple[str, ...] = ()
    list_columns: tuple[str, ...] = ()
    owner_field: str | None = "owner_id"
    sort_fields: tuple[str, ...] = ()
    filter_fields: tuple[str, ...] = ()
    prepare: Callable[[dict[str, Any], Any, Any], None] | None = None
    actions: tuple[RecordAction, ...] = ()
    eager: tuple[str, ...] = ()
    api_create: bool = True
    linked_to: tuple[str, str] | None = None
    translated_titles: bool = False
    references: Mapping[str, Any] = field(default_factory=dict)
    prefill: Callable[[dict[str, str], Any], dict[str, Any]] | None = None
    editor_url: str | None = None
    plugin: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        self.title_plural = self.title_plural or f"{self.title}s"
        for attr in (
            "title_fields",
            "search_fields",
            "list_columns",
            "sort_fields",
            "filter_fields",
            "actions",
        ):
            setattr(self, attr, tuple(getattr(self, attr)))
        if self.owner_field and not hasattr(self.model, self.owner_field):
            raise ValueError(f"entity {self.name!r}: model has no owner field {self.owner_field!r}")

    @property
    def table(self) -> str:
        """The model's table name (``core_contact``, ``sales_deal``)."""
        name: str = self.model.__table__.name
        return name

    @cached_property
    def has_custom_fields(self) -> bool:
        return "custom_fields" in self.model.__table__.c

    @cached_property
    def has_tags(self) -> bool:
        return "tags" in self.model.__table__.c

    @cached_property
    def full_schema(self) -> type[Schema]:
        """The declared schema plus owner, tags and custom fields when the model has them."""
        extra: dict[str, Any] = {}
        declared = self.schema._declared_fields
        if self.owner_field and self.owner_field not in declared and self.owner_field != "id":
            extra[self.owner_field] = fields.Integer(allow_none=True)
        if self.has_tags and "tags" not in declared:
            extra["tags"] = fields.List(fields.String(validate=_tag_length), load_default=None)
        if self.has_custom_fields and "custom_fields" not in declared:
            extra["custom_fields"] = fields.Dict(
                keys=fields.String(),
                values=fields.Raw(allow_none=True),
                metadata={"description": "Values of the custom fields defined for this entity."},
            )
        if not extra:
            return self.schema
        return type(self.schema.__name__, (self.schema,), extra)

    @cached_property
    def dump_schema(self) -> Schema:
        return self.full_schema()

    @cached_property
    def create_schema(self) -> Schema:
        return self.full_schema()

    @cached_property
    def update_schema(self) -> Schema:
        return self.full_schema(partial=True)

    def loader(self, schema: Schema, keys: Iterable[str]) -> Schema:
        """``schema`` narrowed to the fields whose input keys are in ``keys``, plus those with a
        load default or that are required: the same result as ``schema.load`` for input with
        exactly those keys, without visiting the fields the input does not have (an import's
        seven columns of a thirty-field schema). One instance per key set, reused."""
        cache: dict[tuple[int, frozenset[str]], Schema] = self.__dict__.setdefault("_loaders", {})
        wanted = frozenset(keys)
        found = cache.get((id(schema), wanted))
        if found is not None:
            return found
        only = [
            name
            for name, field in schema.load_fields.items()
            if (field.data_key or name) in wanted
            or field.required
            or field.load_default is not missing
        ]
        if len(only) == len(schema.load_fields) or len(cache) >= 256:
            return schema  # nothing to save, or too many key sets (API calls) to keep
        narrowed = type(schema)(only=only, partial=schema.partial, unknown=schema.unknown)
        cache[(id(schema), wanted)] = narrowed
        return narrowed

    def load(self, schema: Schema, data: dict[str, Any]) -> dict[str, Any]:
        """``schema.load(data)`` for one of this entity's schemas, through a loader compiled
        once for ``data``'s keys (``crmcore.loading``) when there is one; raises marshmallow's
        ``ValidationError`` with marshmallow's own messages."""
        cache: LoaderCache = self.__dict__.setdefault("_compiled_loaders", {})
        return load_values(cache, schema, data, self.loader)

    @cached_property
    def column_checks(self) -> ColumnChecks:
        """``value_problem`` for each column, worked out once (``crmcore.columns``)."""
        return ColumnChecks(self.column_types)

    @cached_property
    def columns(self) -> dict[str, Any]:
        """Mapped column attributes by name."""
        mapper = sa_inspect(self.model)
        return {c.key: getattr(self.model, c.key) for c in mapper.column_attrs}

    @cached_property
    def column_types(self) -> dict[str, Any]:
        """The SQL type of each mapped column, by attribute name."""
        mapper = sa_inspect(self.model)
        return {c.key: c.columns[0].type for c in mapper.column_attrs}

    @cached_property
    def sortable(self) -> frozenset[str]:
        base = {"id", "created_at", "updated_at", *self.list_columns, *self.sort_fields}
        return frozenset(f for f in base if f in self.columns and f != "tags")

    @cached_property
    def filterable(self) -> frozenset[str]:
        base = {"id", "created_at", "updated_at", *self.list_columns, *self.filter_fields}
        if self.owner_field:
            base.add(self.owner_field)
        return frozenset(f for f in base if f in self.columns)

    def attribute(self, name: str) -> InstrumentedAttribute[Any]:
        """The model attribute of the column ``name``, for queries."""
        column: InstrumentedAttribute[Any] = self.columns[name]
        return column

    def permission(self, action: str) -> str:
        """The permission name of ``action``: ``"<plural>.<action>"``."""
        assert action in ACTIONS, action
        return f"{self.plural}.{action}"

    def display(self, record: Any) -> str:
        """The record's title, from ``title_fields`` (translated when ``translated_titles``)."""
        parts = [str(getattr(record, f, "") or "") for f in self.title_fields]
        text = " ".join(p for p in parts if p).strip()
        if text and self.translated_titles:
            from flask_babel import gettext

            return str(gettext(text))
        return text or f"{self.title} #{record.id}"


def _tag_length(value: str) -> bool:
    if not value.strip() or len(value) > 50:
        raise ValidationError("Tags are 1 to 50 characters.")
    return True


class Registry:
    """Every entity of an app, by name and by plural."""

    def __init__(self) -> None:
        self._by_name: dict[str, Entity] = {}
        self._by_plural: dict[str, Entity] = {}

    def add(self, entity: Entity, plugin: str) -> None:
        entity.plugin = plugin
        for existing in self._by_name.values():
            for what, mine, theirs in (
                ("entity", entity.name, existing.name),
                ("plural", entity.plural, existing.plural),
                ("table", entity.table, existing.table),
            ):
                if mine == theirs:
                    raise PluginConflictError(
                        f"plugins {existing.plugin!r} and {plugin!r} both claim the {what} {mine!r}"
                    )
        self._by_name[entity.name] = entity
        self._by_plural[entity.plural] = entity

    def __iter__(self) -> Iterator[Entity]:
        return iter(self._by_name.values())

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def get(self, name: str) -> Entity:
        """The entity called ``name`` (singular or plural); ``KeyError`` when unknown."""
        entity = self._by_name.get(name) or self._by_plural.get(name)
        if entity is None:
            raise KeyError(name)
        return entity

    def for_model(self, model: type[Any]) -> Entity:
        for entity in self._by_name.values():
            if entity.model is model:
                return entity
        raise KeyError(model.__name__)

    def of_plugins(self, names: Iterable[str]) -> list[Entity]:
        wanted = set(names)
        return [e for e in self._by_name.values() if e.plugin in wanted]
