"""Who reads a saved report, and the checks a report passes when it is saved.

A report is read by the readers its ``reports.read`` scope allows (its owner; a team or every
report for wider scopes) and, besides, by the members of the team or the holders of the role it
is shared with. Running it always uses the reader's own rights: a shared report shows each
reader only the records they may read.
"""

from __future__ import annotations

from typing import Any

from crmcore import NotFound, ValidationError
from crmcore.users.models import Team, team_member
from sqlalchemy import and_, false, or_, select

from .definition import parse_definition
from .models import Report

NEEDS_TEAM = "Choose the team to share the report with."
NEEDS_ROLE = "Choose the role to share the report with."


def readable(service: Any) -> Any:
    """A SELECT of the saved reports ``service``'s user may read."""
    access = service.access
    own = service.query("reports").whereclause if access.can("reports", "read") else false()
    if access.is_system:
        return select(Report).where(Report.deleted_at.is_(None))
    user = access.user
    my_teams = select(team_member.c.team_id).where(
        team_member.c.user_id == access.user_id,
        team_member.c.team_id.in_(select(Team.id).where(Team.deleted_at.is_(None))),
    )
    shared = or_(
        and_(Report.visibility == "team", Report.team_id.in_(my_teams)),
        and_(Report.visibility == "role", Report.role_id == getattr(user, "role_id", None)),
    )
    return select(Report).where(Report.deleted_at.is_(None), or_(own, shared))


def get_readable(service: Any, report_id: int) -> Report:
    """One saved report the user may read; ``NotFound`` otherwise (existence not revealed)."""
    found: Report | None = service.session.scalar(readable(service).where(Report.id == report_id))
    if found is None:
        raise NotFound("No such report.")
    return found


def prepare_report(data: dict[str, Any], record: Any, service: Any) -> None:
    """Check the definition for the writer (their fields, their joins) and store its canonical
    form; a shared report names its team or role."""
    if "definition" in data:
        try:
            data["definition"] = parse_definition(service, data["definition"]).as_json()
        except ValidationError as exc:
            raise ValidationError(
                {f"definition.{k}": v for k, v in exc.messages.items()}, exc.detail
            ) from None
    visibility = data.get("visibility", getattr(record, "visibility", None) or "private")
    team_id = data.get("team_id", getattr(record, "team_id", None))
    role_id = data.get("role_id", getattr(record, "role_id", None))
    if visibility == "team" and team_id is None:
        raise ValidationError({"team_id": [NEEDS_TEAM]})
    if visibility == "role" and role_id is None:
        raise ValidationError({"role_id": [NEEDS_ROLE]})
    from .pins import check_pin
    from .schedule import check_schedule

    check_pin(service, data, record)
    check_schedule(service, data, record)
