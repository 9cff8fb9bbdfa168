"""The marketing plugin's part of a person's data (``crm_person_data``).

A campaign's results (sent, opened, clicked, unsubscribed) stay right after an erasure: the
person's recipient rows and their events are kept, cut from the contact and the address. Static
segment memberships and the bounce record of the address are deleted.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, or_, select, update

from .models import Bounce, CampaignEvent, Recipient, SegmentMember


def person_data(person: Any) -> list[Any]:
    from crmcore.privacy import PersonData

    session = person.session
    ids = person.contact_ids or [-1]
    recipients = list(
        session.scalars(
            select(Recipient)
            .where(or_(Recipient.contact_id.in_(ids), func.lower(Recipient.email) == person.email))
            .order_by(Recipient.id)
        )
    )
    recipient_ids = [r.id for r in recipients] or [-1]
    events = list(
        session.scalars(
            select(CampaignEvent)
            .where(CampaignEvent.recipient_id.in_(recipient_ids))
            .order_by(CampaignEvent.id)
        )
    )
    members = list(session.scalars(select(SegmentMember).where(SegmentMember.contact_id.in_(ids))))
    bounces = list(session.scalars(select(Bounce).where(func.lower(Bounce.email) == person.email)))

    def erase_recipients() -> None:
        if recipients:
            session.execute(
                update(Recipient)
                .where(Recipient.id.in_(recipient_ids))
                .values(contact_id=None, email=None, message_id=None)
            )
            person.scrub_rows(Recipient, ["reason"], where=Recipient.id.in_(recipient_ids))

    def erase_events() -> None:
        if events:
            person.scrub_rows(
                CampaignEvent, ["detail"], where=CampaignEvent.recipient_id.in_(recipient_ids)
            )

    def erase_members() -> None:
        session.execute(delete(SegmentMember).where(SegmentMember.contact_id.in_(ids)))

    def erase_bounces() -> None:
        session.execute(delete(Bounce).where(Bounce.id.in_([b.id for b in bounces] or [-1])))

    return [
        PersonData(
            "marketing.recipients",
            [person.row(r) for r in recipients],
            erase=erase_recipients,
        ),
        PersonData("marketing.events", [person.row(e) for e in events], erase=erase_events),
        PersonData(
            "marketing.segment_memberships",
            [person.row(m) for m in members],
            erase=erase_members,
        ),
        PersonData("marketing.bounces", [person.row(b) for b in bounces], erase=erase_bounces),
    ]
