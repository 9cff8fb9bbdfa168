"""Merging two contacts (``crm_merge_records``): segment memberships and campaign sends move to
the kept contact, without breaking one send per contact and campaign."""

from __future__ import annotations

import pytest
from crm_marketing.models import Recipient, SegmentMember
from sqlalchemy import select

pytestmark = pytest.mark.crm_plugins("marketing")


def test_memberships_and_sends_move_to_the_kept_contact(crm, records, api):
    keep = records.create("contacts", {"last_name": "Keep", "email": "keep@example.org"})
    gone = records.create("contacts", {"last_name": "Gone", "email": "gone@example.org"})
    both, only = (records.create("segments", {"name": n, "kind": "static"}) for n in "AB")
    shared, single = (records.create("campaigns", {"name": n}) for n in ("Shared", "Single"))
    session = crm.session
    session.add_all(
        [
            SegmentMember(segment_id=both.id, contact_id=keep.id),
            SegmentMember(segment_id=both.id, contact_id=gone.id),
            SegmentMember(segment_id=only.id, contact_id=gone.id),
            Recipient(campaign_id=shared.id, contact_id=keep.id, status="sent"),
            Recipient(campaign_id=shared.id, contact_id=gone.id, status="sent"),
            Recipient(campaign_id=single.id, contact_id=gone.id, status="sent"),
        ]
    )
    session.commit()
    r = api.post(f"/api/v1/contacts/{keep.id}/merge", json={"other_id": gone.id})
    assert r.status_code == 200, r.get_json()
    session.expire_all()
    members = sorted((m.segment_id, m.contact_id) for m in session.scalars(select(SegmentMember)))
    assert members == [(both.id, keep.id), (only.id, keep.id)]
    sends = sorted((s.campaign_id, s.contact_id) for s in session.scalars(select(Recipient)))
    assert sends == sorted([(shared.id, keep.id), (shared.id, gone.id), (single.id, keep.id)])
