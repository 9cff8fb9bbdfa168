"""New records filled without per-attribute instrumentation (``crmcore.instances``) behave as
ones made by the constructor and ``setattr``: flushed alike, later changes tracked, and
columns with listeners or models with their own constructor left to the usual way."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event, inspect, select
from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.orm import DeclarativeBase, Mapped, make_transient_to_detached, mapped_column

from crmcore.contacts.models import Contact
from crmcore.instances import Blank, blank, detach_as_loaded

VALUES = {
    "first_name": "Ana",
    "last_name": "Ruiz",
    "email": "ana@example.com",
    "phone": "+34912345678",
    "tags": ["vip"],
    "custom_fields": {"loyalty_tier": "gold"},
    "email_opt_out": False,
}


def test_a_filled_record_is_flushed_by_the_unit_of_work_as_a_constructed_one(crm):
    maker = blank(Contact)
    assert maker.direct and "first_name" in maker.columns
    filled = maker.new()
    maker.fill(filled, VALUES)
    constructed = Contact(**VALUES)
    assert inspect(filled).transient
    crm.session.add_all([filled, constructed])
    crm.session.flush()
    rows = crm.session.execute(
        select(Contact.__table__).where(Contact.id.in_([filled.id, constructed.id]))
    ).all()
    first, second = (row._asdict() for row in rows)
    for row in (first, second):
        for stamp in ("id", "created_at", "updated_at"):
            assert row.pop(stamp) is not None
    assert first == second
    assert first["first_name"] == "Ana" and first["custom_fields"] == {"loyalty_tier": "gold"}


def test_a_filled_record_tracks_later_changes(crm):
    maker = blank(Contact)
    record = maker.new()
    maker.fill(record, VALUES)
    crm.session.add(record)
    crm.session.flush()
    record.city = "Madrid"  # as a veto hook or prepare might, after the fill
    record.first_name = "Eva"
    assert inspect(record).attrs.first_name.history.added == ["Eva"]
    crm.session.flush()
    crm.session.expire(record)
    assert (record.first_name, record.city) == ("Eva", "Madrid")


def test_a_column_with_a_set_listener_is_set_through_it():
    seen: list[Any] = []

    def listener(target: Any, value: Any, old: Any, initiator: Any) -> Any:
        seen.append(value)
        return value.upper()

    event.listen(Contact.city, "set", listener, retval=True)
    try:
        maker = Blank(Contact)  # not the cached one: made while the listener is there
        assert "city" not in maker.columns and "first_name" in maker.columns
        record = maker.new()
        maker.fill(record, {"first_name": "Ana", "city": "madrid"})
    finally:
        event.remove(Contact.city, "set", listener)
    assert seen == ["madrid"] and record.city == "MADRID"


class _Other(DeclarativeBase):
    pass


class _Counted(_Other):
    __tablename__ = "test_instances_counted"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str | None]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.name = "from the constructor"


def test_a_model_with_its_own_constructor_is_made_by_it():
    maker = Blank(_Counted)
    assert not maker.direct
    record = maker.new()
    assert record.name == "from the constructor"
    maker.fill(record, {"name": "given"})
    assert record.name == "given"
    assert inspect(record).attrs.name.history.added == ["given"]


def _state_of(record: Any) -> dict[str, Any]:
    state = inspect(record)
    return {
        "key": state.key,
        "dict": {k: v for k, v in state.dict.items() if k != "_sa_instance_state"},
        "expired_attributes": set(state.expired_attributes),
        "committed_state": dict(state.committed_state),
        "unloaded": state.unloaded,
        "flags": (state.modified, state.expired, state.detached, state._deleted),
        "callables": dict(state.callables),
    }


@pytest.mark.parametrize(
    "values",
    [
        VALUES,
        {"first_name": "Ana"},  # most columns absent: expired
        {"first_name": None, "tags": [], "custom_fields": {"a": {"b": [1, "ñ"]}}},
    ],
)
def test_a_record_detached_as_loaded_is_as_make_transient_to_detached_leaves_it(values):
    mapper = inspect(Contact)
    records = []
    for detach in ("sqlalchemy", "crmcore"):
        record = blank(Contact).new()
        blank(Contact).fill(record, values)
        record.city = "Madrid"  # a change through the instrumented set: a history to drop
        record.id = 41
        if detach == "sqlalchemy":
            make_transient_to_detached(record)
        else:
            attributes = frozenset(mapper.class_manager)
            detach_as_loaded(record, mapper._identity_class, (41,), attributes)
        records.append(record)
    ours, theirs = _state_of(records[1]), _state_of(records[0])
    assert ours == theirs
    assert ours["key"] == (Contact, (41,), None) and ours["expired_attributes"]
    with pytest.raises(InvalidRequestError):  # no longer transient
        detach_as_loaded(records[1], mapper._identity_class, (41,), frozenset())
