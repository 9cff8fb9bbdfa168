"""Shared fixtures of the insights tests (crmcore's pytest plugin provides the rest)."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

# helper modules of these tests (insights_orders): this folder goes at the end of sys.path,
# never before the core's tests
if str(Path(__file__).parent) not in sys.path:
    sys.path.append(str(Path(__file__).parent))


@pytest.fixture
def make_deal(records: Any) -> Callable[..., Any]:
    """``make_deal(title, amount, **fields)``: a deal made through the record service."""

    def make(title: str = "Deal", amount: str = "100.00", **fields: Any) -> Any:
        return records.create("deals", {"title": title, "amount": amount, **fields})

    return make


@pytest.fixture
def set_time_zone(crm: Any, session: Any) -> Callable[[str], None]:
    """``set_time_zone("Europe/Madrid")``: the instance's time zone setting."""
    from crmcore.settings import Setting, forget_settings

    def set_zone(name: str) -> None:
        session.merge(Setting(key="time_zone", value=name))
        session.commit()
        forget_settings()

    return set_zone


@pytest.fixture
def stamp(session: Any) -> Callable[[Any, dt.datetime], None]:
    """``stamp(record, when)``: set a record's ``created_at`` (test set-up only)."""

    def set_stamp(record: Any, when: dt.datetime) -> None:
        record.created_at = when
        session.commit()

    return set_stamp
