"""Choices of reference fields in forms that are not record pickers."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..users.models import User

#: Users a user-reference select offers at most (active ones, by name).
USER_LIMIT = 500


def user_choices(session: Session) -> list[tuple[str, str]]:
    """Active users as ``(id, name)`` for a field referring to a user (an assignee, an author):
    anyone may pick any colleague, as anyone sees their names on records."""
    users = (
        select(User)
        .where(User.active.is_(True), User.deleted_at.is_(None))
        .order_by(User.name, User.email)
        .limit(USER_LIMIT)
    )
    return [(str(u.id), u.name or u.email) for u in session.scalars(users)]
