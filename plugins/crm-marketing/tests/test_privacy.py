"""The marketing part of a person's data (``crm_person_data``): sends kept without contact or
address, so results stay right; memberships and the bounce record deleted."""

from __future__ import annotations

import pytest
from crm_marketing.models import Bounce, CampaignEvent, Recipient, SegmentMember
from sqlalchemy import func, select

pytestmark = pytest.mark.crm_plugins("marketing")


def test_sends_are_kept_without_the_person(crm, records, cli):
    contact = records.create("contacts", {"last_name": "Mar", "email": "mar@example.org"})
    campaign = records.create("campaigns", {"name": "Otoño"})
    recipient = Recipient(
        campaign_id=campaign.id, contact_id=contact.id, email="mar@example.org", status="sent"
    )
    crm.session.add(recipient)
    crm.session.flush()
    crm.session.add(CampaignEvent(campaign_id=campaign.id, recipient_id=recipient.id, kind="open"))
    segment = records.create("segments", {"name": "Static", "kind": "static"})
    crm.session.add(SegmentMember(segment_id=segment.id, contact_id=contact.id))
    crm.session.add(Bounce(email="mar@example.org"))
    crm.session.commit()
    assert cli("people", "erase", "mar@example.org", "--yes").exit_code == 0
    session = crm.session
    session.expire_all()
    kept = session.get(Recipient, recipient.id)
    assert kept.status == "sent" and kept.email is None and kept.contact_id is None
    assert session.scalar(select(func.count()).select_from(CampaignEvent)) == 1
    assert session.scalar(select(func.count()).select_from(SegmentMember)) == 0
    assert session.scalar(select(func.count()).select_from(Bounce)) == 0


def test_an_address_known_only_to_marketing_is_known(crm, cli):
    crm.session.add(Bounce(email="only.bounced@example.org"))
    crm.session.commit()
    result = cli("people", "erase", "only.bounced@example.org", "--yes")
    assert result.exit_code == 0 and "marketing.bounces: 1" in result.output
