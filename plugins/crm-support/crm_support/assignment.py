"""Assignment rules of a queue: round robin and least open tickets."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crmcore.users.models import User

from .models import OPEN_STATUSES, SupportQueue, Ticket


def active_members(session: Session, queue: SupportQueue) -> list[int]:
    """Ids of the queue's members who are active users, in id order."""
    ids = [int(i) for i in queue.member_ids or () if isinstance(i, int)]
    if not ids:
        return []
    return list(
        session.scalars(
            select(User.id)
            .where(User.id.in_(ids), User.active.is_(True), User.deleted_at.is_(None))
            .order_by(User.id)
        )
    )


def round_robin(members: list[int], last: int | None) -> int:
    """The member after ``last`` (by id), wrapping around."""
    following = [m for m in members if last is None or m > last]
    return following[0] if following else members[0]


def least_open(session: Session, members: list[int]) -> int:
    """The member with the fewest open tickets; ties go to the lowest id."""
    counts = dict(
        session.execute(
            select(Ticket.assignee_id, func.count())
            .where(
                Ticket.assignee_id.in_(members),
                Ticket.status.in_(OPEN_STATUSES),
                Ticket.deleted_at.is_(None),
            )
            .group_by(Ticket.assignee_id)
        ).all()
    )
    return min(members, key=lambda m: (counts.get(m, 0), m))


def pick_assignee(session: Session, queue: SupportQueue) -> int | None:
    """Who gets the next ticket of ``queue`` under its rule (``None`` for manual queues)."""
    if queue.assignment not in ("round_robin", "least_open"):
        return None
    members = active_members(session, queue)
    if not members:
        return None
    if queue.assignment == "round_robin":
        chosen = round_robin(members, queue.last_assigned_id)
        queue.last_assigned_id = chosen  # the pointer is bookkeeping, not a record change
        return chosen
    return least_open(session, members)
