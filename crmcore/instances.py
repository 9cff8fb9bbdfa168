"""New model instances filled without SQLAlchemy's per-attribute bookkeeping.

``Model(); record.x = value`` costs ~6 µs for the constructor and 1-3 µs per attribute: the
instrumented ``__set__`` records a change history for an object that has none yet (it is
new). An import builds hundreds of thousands. :class:`Blank` makes the same transient
instance - the class manager's ``new_instance`` and the ``init`` event the constructor
fires - and puts column values straight into its ``__dict__``, which is where the
instrumented set puts them too; the unit of work and ``crmcore.bulk_insert`` read a new
object's values from there. It is used only where nothing else could see the difference: a
model with SQLAlchemy's own constructor, no polymorphic identity to set, and for columns
without ``set`` listeners (``validates``, mutable types); any other value is set as usual.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.orm.attributes import instance_state

from .db import Base


class Blank:
    """Makes new instances of one model and fills them."""

    def __init__(self, model: type[Any]) -> None:
        mapper = inspect(model)
        manager = mapper.class_manager
        self.model = model
        self.manager = manager
        self.direct = (
            getattr(manager, "original_init", None) is Base.__init__
            and mapper._set_polymorphic_identity is None  # set by the constructor otherwise
        )
        self.columns = frozenset(
            key for key in mapper.column_attrs.keys() if not manager[key].dispatch.set
        )

    def new(self) -> Any:
        """A transient instance, as ``model()`` makes it."""
        if not self.direct:
            return self.model()
        record = self.manager.new_instance()
        self.manager.dispatch.init(instance_state(record), (), {})
        return record

    def fill(self, record: Any, values: Mapping[str, Any]) -> None:
        """``setattr(record, name, value)`` for each of ``values`` of a new ``record``."""
        if not self.direct:
            for name, value in values.items():
                setattr(record, name, value)
            return
        state = record.__dict__
        columns = self.columns
        for name, value in values.items():
            if name in columns:
                state[name] = value
            else:  # a relationship, a property, a column with listeners: as usual
                setattr(record, name, value)


_BLANKS: dict[type[Any], Blank] = {}


def blank(model: type[Any]) -> Blank:
    """The :class:`Blank` of ``model`` (one per model class)."""
    try:
        return _BLANKS[model]
    except KeyError:
        made = _BLANKS[model] = Blank(model)
        return made


def loaded(record: Any, name: str) -> Any:
    """``getattr(record, name, None)``, read from the instance's dict when loaded there (a
    batch's new records have every column loaded): the attribute's ``__get__`` is Python
    code, ~1 µs a call, which a batch pays per record and value."""
    values = record.__dict__
    return values[name] if name in values else getattr(record, name, None)


def loaded_ids(records: Iterable[Any]) -> list[int]:
    """The ids of ``records`` (written, so each has one), as :func:`loaded` reads them."""
    return [r.__dict__.get("id") or r.id for r in records]


def detach_as_loaded(
    record: Any, identity_class: type[Any], key: tuple[Any, ...], attributes: frozenset[str]
) -> None:
    """What ``sqlalchemy.orm.make_transient_to_detached`` does to a transient ``record`` of
    primary key ``key`` (its mapper's ``_identity_class`` and attributes ``attributes``,
    ``frozenset(class_manager)``): every value present marked as loaded, every other attribute
    expired. A batch's caller has them at hand; the function works them out per record from
    the primary key's attributes and the class manager (~60 % of its cost).
    """
    state = instance_state(record)
    if state.session_id or state.key:
        raise InvalidRequestError("Given object must be transient")
    state.key = (identity_class, key, state.identity_token)
    if state._deleted:
        del state._deleted
    values = state.dict
    state._commit_all(values)
    # committed_state is empty now: what ``state.unloaded`` is
    state._expire_attributes(values, attributes.difference(values))
