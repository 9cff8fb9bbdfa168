"""The saved report (table ``insights_report``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from crmcore.db import AwareDateTime, Base, JSONType, OwnedMixin, RecordMixin
from sqlalchemy import Boolean, Date, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

#: Who reads a saved report besides its owner (and roles reading every report).
VISIBILITIES = ("private", "team", "role")
#: How the report page shows the rows.
CHARTS = ("table", "pivot", "bar", "line", "pie", "funnel")
#: The date ranges of a report pinned to the dashboard.
SCHEDULES = ("daily", "weekly", "monthly")
PIN_RANGES = ("this_month", "last_month", "this_quarter", "last_quarter", "this_year", "custom")


class Report(RecordMixin, OwnedMixin, Base):
    __tablename__ = "insights_report"

    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    definition: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    chart: Mapped[str] = mapped_column(String(20), default="table")
    visibility: Mapped[str] = mapped_column(String(10), default="private")
    team_id: Mapped[int | None] = mapped_column(
        ForeignKey("core_team.id", ondelete="SET NULL"), index=True
    )
    role_id: Mapped[int | None] = mapped_column(
        ForeignKey("core_role.id", ondelete="SET NULL"), index=True
    )
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    pin_range: Mapped[str | None] = mapped_column(String(20))
    pin_field: Mapped[str | None] = mapped_column(String(100))
    pin_from: Mapped[dt.date | None] = mapped_column(Date)
    pin_to: Mapped[dt.date | None] = mapped_column(Date)
    schedule: Mapped[str | None] = mapped_column(String(10))
    recipients: Mapped[list[str]] = mapped_column(JSONType, default=list)
    last_sent_at: Mapped[dt.datetime | None] = mapped_column(AwareDateTime)
