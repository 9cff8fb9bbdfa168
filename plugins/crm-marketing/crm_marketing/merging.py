"""When two contacts merge (``crm_merge_records``): the loser's static segment memberships and
campaign sends move to the winner."""

from __future__ import annotations

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from .models import Recipient, SegmentMember


def merge_contacts(session: Session, winner_id: int, loser_id: int) -> None:
    """Re-point the loser's rows at the winner.

    A segment the winner is already in keeps the winner's membership (the loser's is dropped);
    a campaign that reached both keeps each send where it is - one contact has one send per
    campaign, and the campaign's results count both - so the loser's send stays with the
    trashed loser.
    """
    winner_segments = select(SegmentMember.segment_id).where(SegmentMember.contact_id == winner_id)
    session.execute(
        delete(SegmentMember).where(
            SegmentMember.contact_id == loser_id, SegmentMember.segment_id.in_(winner_segments)
        )
    )
    session.execute(
        update(SegmentMember)
        .where(SegmentMember.contact_id == loser_id)
        .values(contact_id=winner_id)
        .execution_options(synchronize_session=False)
    )
    winner_campaigns = select(Recipient.campaign_id).where(Recipient.contact_id == winner_id)
    session.execute(
        update(Recipient)
        .where(Recipient.contact_id == loser_id, Recipient.campaign_id.not_in(winner_campaigns))
        .values(contact_id=winner_id)
        .execution_options(synchronize_session=False)
    )
