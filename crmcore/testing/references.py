"""``assert_references_scoped``: a plugin's reference fields refuse what their writer may not
read, exactly as the core's do."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select

from ..errors import CRMError, ValidationError
from ..permissions import Access
from ..references import references


def assert_references_scoped(
    crm: Any, entity_name: str, writer: Any, data: Mapping[str, Any]
) -> list[str]:
    """Assert that creating ``entity_name`` as ``writer`` is refused (a field error naming the
    field) for each writable reference field set to a record that does not exist, and to a
    record of the target entity that ``writer`` may not read, when one exists in the database.

    :param crm: the app's ``CRM`` (``app.extensions["crm"]``, the ``crm`` fixture).
    :param writer: a user who may create the entity but read only part of its targets (a
        sales rep); create the records they may not read before calling.
    :param data: a payload ``writer`` may create the entity with; each attempt changes one
        reference field of it. Nothing is written: every attempt is rolled back.
    :returns: the fields checked against an unreadable record (those with none to try are
        only checked against a missing id).
    """
    service = crm.records(Access.for_user(writer))
    system = crm.records()
    entity = service.entity(entity_name)
    refs = [
        r
        for r in references(service, entity).values()
        if r.writable and r.target is not None and r.field != entity.owner_field
    ]
    assert refs, f"{entity.name} has no reference fields to check"
    scoped: list[str] = []
    for ref in refs:
        assert ref.target is not None
        target = service.entity(ref.target)
        model = target.model
        highest = system.session.scalar(select(func.max(model.id))) or 0
        _assert_refused(service, entity.name, {**data, ref.field: highest + 1000}, ref.field)
        if target.name == "user":
            continue  # any existing user may be referred to
        readable = (
            set(service.session.scalars(service.query(target).with_only_columns(model.id)))
            if service.access.can(target, "read")
            else set()
        )
        hidden = system.session.scalar(
            system.query(target)
            .with_only_columns(model.id)
            .where(model.id.not_in(readable) if readable else model.id.is_not(None))
            .limit(1)
        )
        if hidden is not None:
            _assert_refused(service, entity.name, {**data, ref.field: hidden}, ref.field)
            scoped.append(ref.field)
    return scoped


def _assert_refused(service: Any, entity: str, data: Mapping[str, Any], name: str) -> None:
    try:
        service.create(entity, data, commit=False)
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, Mapping) else {}
        assert name in messages, f"{entity}: refused, but not naming {name}: {exc.messages}"
        return
    except CRMError as exc:
        raise AssertionError(f"{entity}: {name}={data[name]!r} gave {exc!r}, not a 422") from exc
    finally:
        service.rollback()
    raise AssertionError(f"{entity}: {name}={data[name]!r} was accepted")
