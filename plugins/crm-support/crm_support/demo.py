"""Demo data: two queues, SLA policies for each priority and a handful of tickets."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from crmcore.contacts.models import Contact

from . import tickets

POLICIES = (
    ("Low", "low", 8 * 60, 5 * 8 * 60),
    ("Normal", "normal", 4 * 60, 3 * 8 * 60),
    ("High", "high", 60, 8 * 60),
    ("Urgent", "urgent", 30, 4 * 60),
)
SUBJECTS = (
    ("Cannot sign in to the dashboard", "high"),
    ("Invoice shows the wrong VAT number", "normal"),
    ("Export to CSV is missing a column", "low"),
    ("Service down for all our users", "urgent"),
    ("How do I add a second admin?", "normal"),
    ("Password reset mail never arrives", "high"),
)


def create_demo(ctx: Any) -> None:
    records = ctx.records
    for name, priority, first, resolution in POLICIES:
        records.create(
            "sla_policies",
            {
                "name": name,
                "priority": priority,
                "first_response_minutes": first,
                "resolution_minutes": resolution,
            },
            commit=False,
        )
    agents = [u.id for role, u in ctx.users.items() if role in ("support_agent", "admin")]
    records.create(
        "support_queues",
        {
            "name": "General",
            "email": "support@example.com",
            "is_default": True,
            "assignment": "round_robin",
            "member_ids": agents,
        },
        commit=False,
    )
    records.create(
        "support_queues",
        {
            "name": "Billing",
            "email": "billing@example.com",
            "assignment": "least_open",
            "member_ids": agents,
        },
        commit=False,
    )
    records.commit()
    contacts = list(
        records.session.scalars(
            select(Contact).where(Contact.email.is_not(None), Contact.deleted_at.is_(None)).limit(6)
        )
    )
    for n, (subject, priority) in enumerate(SUBJECTS):
        contact = contacts[n % len(contacts)] if contacts else None
        ticket = records.create(
            "tickets",
            {
                "subject": subject,
                "priority": priority,
                "channel": ctx.random.choice(("email", "web", "portal", "phone")),
                "description": f"{subject}. Please help.",
                "contact_id": contact.id if contact else None,
                "assignee_id": None,
            },
        )
        if n % 2 == 0:
            tickets.add_message(records, ticket, "Thanks, we are looking into it.", send_mail=False)
        if n % 3 == 0:
            tickets.add_message(
                records,
                ticket,
                "Checked the logs; waiting for the customer.",
                public=False,
                status="pending",
            )
