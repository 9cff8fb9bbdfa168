"""Server-side sign-out: each user has a session epoch that every web session and remember-me
cookie is bound to (through the session fingerprint); raising it ends them all at once."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session

from .models import User


def end_sessions(session: Session, user: User) -> None:
    """End every web session and remember-me cookie of ``user`` (the caller commits).

    Atomic in SQL, so two sign-outs at once both count; ``user`` is refreshed on next access.
    """
    session.execute(
        update(User)
        .where(User.id == user.id)
        .values(session_epoch=User.session_epoch + 1)
        .execution_options(synchronize_session=False)
    )
    session.expire(user, ["session_epoch"])
