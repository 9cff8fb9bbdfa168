"""Helpers of the sending tests: segments and campaigns, SMTP peers that count or refuse."""

from __future__ import annotations

import collections
import itertools
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from crm_marketing.models import Campaign, Recipient
from sqlalchemy import select

from crmcore.testing.smtp import Inbox, sending_through

BODY = (
    '<p>Hello {{ contact.first_name }}, <a href="https://shop.example.com/spring">'
    "see what is new</a>.</p>\n<p>.a line starting with a dot</p>"
)


_numbers = itertools.count(1)


def make_segment(records: Any, tag: str = "news") -> Any:
    name = f"Tagged {tag} ({next(_numbers)})"
    return records.create("segments", {"name": name, "query": f"tags={tag}"})


def make_campaign(records: Any, segment: Any, **fields: Any) -> Campaign:
    data = {
        "name": "Spring news",
        "kind": "email",
        "segment_id": segment.id,
        "subject": "Spring news for {{ contact.first_name }}",
        "body_html": BODY,
        "from_email": "news@shop.example.com",
        **fields,
    }
    return records.create("campaigns", data)


def rows(session: Any, campaign: Any) -> dict[str, Recipient]:
    """The campaign's recipients by e-mail, read afresh."""
    found = session.scalars(
        select(Recipient)
        .where(Recipient.campaign_id == campaign.id)
        .order_by(Recipient.id)
        .execution_options(populate_existing=True)
    )
    return {r.email or f"contact:{r.contact_id}": r for r in found}


def fresh(session: Any, campaign: Any) -> Campaign:
    found = session.get(Campaign, campaign.id, populate_existing=True)
    assert found is not None
    return found


class CountingInbox(Inbox):
    """Keeps what it accepted, counts messages per envelope recipient and when they came.

    ``rcpt`` refuses recipients (the same answer every time); ``data`` answers the end of a
    recipient's message with the replies listed, one per attempt, then accepts it.
    """

    def __init__(
        self,
        rcpt: dict[str, str] | None = None,
        data: dict[str, list[str]] | None = None,
        drop: set[str] | None = None,
    ) -> None:
        super().__init__()
        self.rcpt = dict(rcpt or {})
        #: take these recipients' messages, then drop the connection without answering
        self.drop = set(drop or ())
        self.data = {k: list(v) for k, v in (data or {}).items()}
        self.per_recipient: collections.Counter[str] = collections.Counter()
        self.tries: collections.Counter[str] = collections.Counter()
        self.times: list[float] = []

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        self.tries[address] += 1
        reply = self.rcpt.get(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        address = envelope.rcpt_tos[0]
        replies = self.data.get(address)
        if replies:
            return replies.pop(0)
        for rcpt in envelope.rcpt_tos:
            self.per_recipient[rcpt] += 1
        self.times.append(time.monotonic())
        answer = await super().handle_DATA(server, session, envelope)
        if address in self.drop:
            server.transport.close()
        return answer


@contextmanager
def peer(crm: Any, **replies: Any) -> Iterator[CountingInbox]:
    """A :class:`CountingInbox` the app sends through while the block runs."""
    with sending_through(crm, CountingInbox(**replies)) as inbox:
        yield inbox  # type: ignore[misc]


@contextmanager
def marketing_settings(crm: Any, **values: Any) -> Iterator[None]:
    """``[marketing]`` settings of crm.toml while the block runs."""
    before = crm.settings.extra.get("marketing")
    crm.settings.extra["marketing"] = {**(before or {}), **values}
    try:
        yield
    finally:
        if before is None:
            crm.settings.extra.pop("marketing", None)
        else:
            crm.settings.extra["marketing"] = before
