"""Helpers of the tracking, consent and bounce tests: campaigns and recipients made directly,
real .eml files, forms with CSRF, the file outbox."""

from __future__ import annotations

import re
import secrets
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

from crm_marketing.models import CampaignEvent, CampaignLink, Recipient
from sqlalchemy import func, select

from crmcore.db import utcnow

MAIL = Path(__file__).parent / "mail"


def make_campaign(records: Any, **fields: Any) -> Any:
    data = {
        "name": "Winter sale",
        "kind": "email",
        "subject": "Our winter sale starts today",
        "body_html": '<p>Hello! <a href="https://shop.example.com/sale">See the sale</a></p>',
        "from_email": "news@shop.example.com",
        **fields,
    }
    return records.create("campaigns", data)


def make_recipient(session: Any, campaign: Any, contact: Any, **fields: Any) -> Recipient:
    """A recipient whose message was sent (as the send job leaves it)."""
    values = {
        "campaign_id": campaign.id,
        "contact_id": contact.id,
        "email": contact.email,
        "status": "sent",
        "sent_at": utcnow(),
        "message_id": f"<crm.{campaign.id}.{secrets.token_hex(6)}@shop.example.com>",
        **fields,
    }
    recipient = Recipient(**values)
    session.add(recipient)
    session.commit()
    return recipient


def make_link(session: Any, campaign: Any, url: str, position: int | None = None) -> CampaignLink:
    if position is None:
        count = session.scalar(select(func.count()).where(CampaignLink.campaign_id == campaign.id))
        position = int(count or 0)
    link = CampaignLink(campaign_id=campaign.id, position=position, url=url)
    session.add(link)
    session.commit()
    return link


def events(session: Any, kind: str | None = None, recipient: Any = None) -> list[CampaignEvent]:
    stmt = select(CampaignEvent).order_by(CampaignEvent.id)
    if kind is not None:
        stmt = stmt.where(CampaignEvent.kind == kind)
    if recipient is not None:
        stmt = stmt.where(CampaignEvent.recipient_id == recipient.id)
    return list(session.scalars(stmt))


def eml(name: str, **replace: str) -> bytes:
    """A message from tests/mail with ``{placeholders}`` filled in, with CRLF line ends."""
    text = (MAIL / name).read_text(encoding="utf-8")
    for key, value in replace.items():
        text = text.replace("{" + key + "}", value)
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode()


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


class Outbox:
    """The instance's file outbox (mail goes there when no SMTP server is set)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def messages(self) -> list[Any]:
        files = sorted(self.path.glob("**/*.eml"), key=lambda p: p.stat().st_mtime_ns)
        return [message_from_bytes(p.read_bytes(), policy=policy.default) for p in files]

    def to(self, address: str) -> list[Any]:
        return [m for m in self.messages() if address in str(m["To"])]
