"""The saved report (table ``insights_report``)."""

from __future__ import annotations

from typing import Any

from crmcore.db import Base, JSONType, OwnedMixin, RecordMixin
from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

#: Who reads a saved report besides its owner (and roles reading every report).
VISIBILITIES = ("private", "team", "role")
#: How the report page shows the rows.
CHARTS = ("table", "pivot", "bar", "line", "pie", "funnel")


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
