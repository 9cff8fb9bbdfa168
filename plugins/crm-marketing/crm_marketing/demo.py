"""Demo data: segments (dynamic and static), a template, a campaign sent three weeks ago with
realistic results, a draft ready to send, and - with crm-sales - the leads and deals the sent
campaign brought.

Records go through the demo's record service; the sent campaign's outbox and events are
written directly (as the send engine and the tracking pages would have), so no mail leaves.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from crmcore import DemoContext
from crmcore.db import utcnow

from .models import Campaign, Recipient

NEWSLETTER_HTML = """\
<table role="presentation" width="100%" cellpadding="0" cellspacing="0">
  <tr><td style="padding: 24px; font-family: Arial, sans-serif; color: #1f2933;">
    <h1 style="font-size: 22px; color: #1f5fbf;">{{ campaign.name }}</h1>
    <p>Hello {{ contact.first_name or "there" }},</p>
    <p>Spring is here, and so are three new things in our catalogue for
      {{ company.name or "your team" }}:</p>
    <ul>
      <li><a href="https://www.example.com/spring/seats">More seats, same price</a></li>
      <li><a href="https://www.example.com/spring/workshop">An onboarding workshop</a></li>
      <li><a href="https://www.example.com/spring/support">Gold support</a></li>
    </ul>
    <p><a href="https://www.example.com/spring" style="background: #1f5fbf; color: #ffffff;
      padding: 10px 16px; text-decoration: none;">See the spring offer</a></p>
    <p style="font-size: 12px; color: #6b7280;">You get this e-mail because you subscribed to
      our newsletter. <a href="{{ unsubscribe_url }}">Unsubscribe</a></p>
  </td></tr>
</table>
"""
SUMMER_HTML = """\
<p>Hola {{ contact.first_name or "" }},</p>
<p>This summer our partners in Spain get the workshop for free with every ten seats.</p>
<p><a href="https://www.example.com/verano">Read more</a></p>
<p style="font-size: 12px;"><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>
"""
LINKS = (
    "https://www.example.com/spring/seats",
    "https://www.example.com/spring/workshop",
    "https://www.example.com/spring/support",
    "https://www.example.com/spring",
)
#: how likely each link is to be clicked by someone who clicks
LINK_WEIGHTS = (3, 2, 1, 6)
OPEN_RATE = 0.48
CLICK_RATE = 0.35  # of those who opened
SENT_DAYS_AGO = 21


def create_demo(ctx: DemoContext) -> None:
    """Everything through ``ctx.records``; the contacts come from the contacts plugin's demo."""
    records, rnd = ctx.records, ctx.random
    marketer = ctx.users.get("marketer")
    owner = {"owner_id": marketer.id} if marketer is not None else {}
    records.create(
        "segments",
        {
            "name": "Newsletter subscribers",
            "description": "Contacts tagged newsletter who have not opted out.",
            "query": "tags=newsletter&email_opt_out=false",
        }
        | owner,
    )
    everyone = records.create(
        "segments",
        {"name": "Everyone", "description": "Every contact (the send skips opt-outs)."} | owner,
    )
    spain = records.create(
        "segments",
        {"name": "Customers in Spain", "query": "country=ES"} | owner,
    )
    fair = records.create(
        "segments",
        {
            "name": "Visitors of the trade fair",
            "kind": "static",
            "description": "Business cards collected at the stand.",
        }
        | owner,
    )
    contacts = list(records.session.scalars(records.query("contacts").order_by("id")))
    for contact in contacts[3:5]:  # people who asked for no more marketing e-mail
        records.update(
            "contacts", contact, {"email_opt_out": True, "email_opt_out_source": "manual"}
        )
    if contacts:
        from .segments import add_members

        visitors = rnd.sample(contacts, k=min(8, len(contacts)))
        add_members(records, fair, [c.id for c in visitors], "demo")
    records.create(
        "email_templates",
        {
            "name": "Monthly newsletter",
            "subject": "{{ campaign.name }}: news for {{ contact.first_name }}",
            "body_html": NEWSLETTER_HTML,
        }
        | owner,
    )
    spring = records.create(
        "campaigns",
        {
            "name": "Spring newsletter",
            "kind": "email",
            "segment_id": everyone.id,
            "subject": "Spring is here, {{ contact.first_name }}",
            "body_html": NEWSLETTER_HTML,
            "from_email": "news@example.com",
            "from_name": "The CRM team",
            "tags": ["newsletter"],
        }
        | owner,
    )
    records.create(
        "campaigns",
        {
            "name": "Summer offer for Spain",
            "kind": "email",
            "segment_id": spain.id,
            "subject": "Verano: the workshop is on us",
            "body_html": SUMMER_HTML,
            "from_email": "news@example.com",
            "from_name": "The CRM team",
        }
        | owner,
    )
    records.create(
        "campaigns",
        {"name": "Catalogue by post", "kind": "direct_mail", "segment_id": fair.id} | owner,
    )
    _send_in_the_past(ctx, spring, everyone)
    if "sales" in records.crm.enabled_plugins():
        _attributed_sales(ctx, spring)


def _send_in_the_past(ctx: DemoContext, campaign: Campaign, segment: Any) -> None:
    """The outbox, sent events, opens, clicks, an unsubscribe and a bounce of a campaign sent
    :data:`SENT_DAYS_AGO` days ago, as the send engine and the public pages write them."""
    from .events import record_event
    from .models import CampaignLink
    from .segments import members_query

    records, rnd = ctx.records, ctx.random
    session = records.session
    crm = records.crm
    today = utcnow().replace(hour=9, minute=0, second=0, microsecond=0)
    started = today - dt.timedelta(days=SENT_DAYS_AGO)
    links = [CampaignLink(campaign_id=campaign.id, position=n, url=u) for n, u in enumerate(LINKS)]
    session.add_all(links)
    members = list(session.scalars(members_query(crm, records, segment).order_by("id")))
    rows = []
    for n, contact in enumerate(members):
        reason = None
        if not contact.email:
            reason = "no_email"
        elif contact.email_opt_out:
            reason = "opted_out"
        row = Recipient(
            campaign_id=campaign.id,
            contact_id=contact.id,
            email=contact.email,
            status="skipped" if reason else "sent",
            reason=reason,
            attempts=0 if reason else 1,
            message_id=None if reason else f"<demo.{campaign.id}.{contact.id}@example.com>",
            created_at=started,
        )
        session.add(row)
        rows.append((n, row))
    session.flush()
    sent = [r for _n, r in rows if r.status == "sent"]
    for n, row in enumerate(sent):
        at = started + dt.timedelta(seconds=2 * n + 1)
        record_event(session, row, "sent", at=at)
    bounced = sent[-1] if len(sent) > 3 else None
    if bounced is not None:
        record_event(
            session,
            bounced,
            "bounce",
            detail="5.1.1 user unknown",
            at=started + dt.timedelta(minutes=3),
        )
    unsubscribed = False
    for row in sent:
        if row is bounced or rnd.random() > OPEN_RATE:
            continue
        # most people open within hours, some days later
        delay = dt.timedelta(minutes=rnd.choice((5, 20, 45, 90, 180, 400, 1500, 3000, 7000)))
        opened = started + delay
        record_event(session, row, "open", at=opened)
        if rnd.random() < 0.3:  # a second look
            record_event(session, row, "open", at=opened + dt.timedelta(hours=rnd.randint(2, 30)))
        if rnd.random() < CLICK_RATE:
            link = rnd.choices(links, weights=LINK_WEIGHTS)[0]
            record_event(
                session, row, "click", link_id=link.id, at=opened + dt.timedelta(minutes=2)
            )
        elif not unsubscribed:
            record_event(session, row, "unsubscribe", at=opened + dt.timedelta(minutes=1))
            unsubscribed = True
    finished = started + dt.timedelta(seconds=2 * len(sent) + 5)
    records.update(
        "campaigns",
        campaign,
        {},
        internal={"status": "sent", "started_at": started, "finished_at": finished},
    )
    # (records.update commits the outbox and events with the campaign's status)


def _attributed_sales(ctx: DemoContext, campaign: Campaign) -> None:
    """Leads who answered the campaign, and deals it brought: one won, one open."""
    records, rnd = ctx.records, ctx.random
    stage = records.entity("stages").model
    stages = list(records.session.scalars(select(stage).order_by(stage.position, stage.id)))
    won = next((s for s in stages if s.is_won), None)
    open_stage = next((s for s in stages if not s.is_won and not s.is_lost), None)
    reps = [u for key, u in ctx.users.items() if key.startswith("sales_rep") and u is not None]
    marker = {"campaign_id": campaign.id}
    for first, last, company, email in (
        ("Marta", "Quintana", "Óptica Quintana", "marta@opticaquintana.es"),
        ("Oliver", "Grant", "Grant & Sons Joinery", "oliver@grantjoinery.co.uk"),
        ("Aiko", "Tanaka", "Tanaka Design", "aiko@tanakadesign.jp"),
    ):
        records.create(
            "leads",
            {
                "first_name": first,
                "last_name": last,
                "company_name": company,
                "email": email,
                "source": f"campaign:{campaign.id}",
                "owner_id": rnd.choice(reps).id if reps else None,
                "custom_fields": marker,
            },
            commit=False,
        )
    records.commit()
    contacts = [
        row.contact_id
        for row in records.session.scalars(
            select(Recipient)
            .where(Recipient.campaign_id == campaign.id, Recipient.clicked_at.is_not(None))
            .order_by(Recipient.id)
            .limit(2)
        )
    ]
    for n, (title, amount, st) in enumerate(
        (
            ("Seat expansion (spring offer)", "4800.00", won),
            ("Onboarding workshop", "1200.00", open_stage),
        )
    ):
        if st is None:
            continue
        records.create(
            "deals",
            {
                "title": title,
                "amount": amount,
                "currency": "EUR",
                "stage_id": st.id,
                "contact_id": contacts[n] if n < len(contacts) else None,
                "owner_id": rnd.choice(reps).id if reps else None,
                "custom_fields": marker,
            },
        )
