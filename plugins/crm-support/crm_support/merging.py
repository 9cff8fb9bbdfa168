"""When two contacts merge (``crm_merge_records``): the loser's messages and portal account
move to the winner (tickets are re-pointed by the core: ``contact_id`` is a reference)."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from .models import PortalAccount, TicketMessage


def merge_contacts(session: Session, winner_id: int, loser_id: int) -> None:
    """Re-point the loser's rows at the winner.

    The messages the loser wrote name the winner as their author. A contact has one portal
    account: the loser's moves over when the winner has none; otherwise each keeps its own (the
    loser's then shows no tickets: they moved to the winner).
    """
    session.execute(
        update(TicketMessage)
        .where(TicketMessage.author_contact_id == loser_id)
        .values(author_contact_id=winner_id)
        .execution_options(synchronize_session=False)
    )
    has_account = session.scalar(
        select(PortalAccount.id).where(PortalAccount.contact_id == winner_id)
    )
    if has_account is None:
        session.execute(
            update(PortalAccount)
            .where(PortalAccount.contact_id == loser_id)
            .values(contact_id=winner_id)
            .execution_options(synchronize_session=False)
        )
