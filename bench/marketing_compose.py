"""Campaign message composition: time to build one recipient's message.

Builds a realistic newsletter (a 600-pixel table layout, ~8 KB of HTML, 12 links of which 10
tracked, placeholders in subject and body) and composes it for 2,000 contacts with their
companies: rendering in the sandbox, sanitising with nh3, link rewriting with signed
tokens, the plain-text part, the MIME message and its bytes (``as_bytes()``, which the
sender does anyway). The goal of sending is >= 200 messages per second end to end, so one
message's composition has to stay well under 5 ms.
Run: python bench/marketing_compose.py (BENCH_MESSAGES=2000)
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

SECTION = """
<tr><td style="padding:16px 24px;font-family:Arial,sans-serif;font-size:15px;line-height:22px">
  <h2 style="margin:0 0 8px 0;font-size:20px;color:#1a1a1a">{title}</h2>
  <p style="margin:0 0 12px 0;color:#333333">{text} {{{{ contact.first_name }}}}, our
  {{{{ company.name or 'team' }}}} offer in {{{{ contact.city or 'your city' }}}}.</p>
  <img src="https://img.example.com/{n}.jpg" width="552" alt="{title}" style="display:block">
  <p><a href="https://shop.example.com/{n}?utm_source=newsletter&amp;utm_medium=email"
     style="background-color:#0b5cad;color:#ffffff;padding:10px 18px;text-decoration:none">
     See {title}</a></p>
</td></tr>"""

TEXT = (
    "Spring is here and so are new arrivals, hand-picked for customers like you. Fresh colours, "
    "light fabrics and everything you need for longer days, with free delivery this week for"
)


def newsletter() -> str:
    sections = "".join(
        SECTION.format(title=f"Collection {n}", text=TEXT, n=n) for n in range(1, 11)
    )
    return (
        '<table width="600" cellpadding="0" cellspacing="0" border="0" align="center" '
        'style="background-color:#ffffff;border:1px solid #dddddd">'
        '<tr><td style="padding:24px"><img src="https://img.example.com/logo.png" width="120" '
        'alt="Shop"></td></tr>'
        "<tr><td style=\"padding:0 24px\"><h1>Hello {{ contact.first_name or 'there' }}!</h1>"
        "</td></tr>" + sections + '<tr><td style="padding:24px;font-size:12px;color:#666666">'
        '<a href="mailto:help@example.com">help@example.com</a> · '
        '<a href="https://shop.example.com/account/{{ contact.email }}">your account</a> · '
        '<a href="{{ unsubscribe_url }}">unsubscribe</a></td></tr></table>'
    )


def build(count: int) -> tuple[Any, Any, list[Any]]:
    from crm_marketing import compose
    from crm_marketing.models import Recipient
    from sqlalchemy import select
    from sqlalchemy.orm import selectinload

    from crmcore.app import create_app
    from crmcore.instance import enable_plugin, init_instance

    path = Path(tempfile.mkdtemp(prefix="crm-compose-bench-"))
    app = create_app(path, config={"secret_key": "bench-" + "x" * 40})
    ctx = app.app_context()
    ctx.push()
    crm = app.extensions["crm"]
    init_instance(crm)
    enable_plugin(crm, "marketing")
    crm.forget_enabled()
    records = crm.records()
    companies = [records.create("companies", {"name": f"Company {n}"}) for n in range(50)]
    contacts = records.create_many(
        "contacts",
        [
            {
                "first_name": f"Ana{n}",
                "last_name": "García",
                "email": f"ana{n}@example.com",
                "city": "Madrid",
                "company_id": companies[n % 50].id,
            }
            for n in range(count)
        ],
    )
    segment = records.create("segments", {"name": "All", "query": ""})
    campaign = records.create(
        "campaigns",
        {
            "name": "Spring",
            "segment_id": segment.id,
            "subject": "{{ contact.first_name }}, spring is here",
            "body_html": newsletter(),
            "from_email": "news@example.com",
            "from_name": "Shop News",
        },
    )
    compose.freeze_links(crm.session, campaign)
    rows = [
        Recipient(
            campaign_id=campaign.id,
            contact_id=c.id,
            email=c.email,
            message_id=f"<{n}.bench@example.com>",
        )
        for n, c in enumerate(contacts)
    ]
    crm.session.add_all(rows)
    crm.session.commit()
    # as the sender loads them: recipients with their contacts and companies
    contact_model = crm.registry.get("contacts").model
    pairs = crm.session.execute(
        select(Recipient, contact_model)
        .join(contact_model, contact_model.id == Recipient.contact_id)
        .where(Recipient.campaign_id == campaign.id)
        .order_by(Recipient.id)
        .options(selectinload(contact_model.company))
    ).all()
    return crm, campaign, [tuple(pair) for pair in pairs]


def main() -> None:
    from crm_marketing import compose

    count = int(os.environ.get("BENCH_MESSAGES", "2000"))
    crm, campaign, pairs = build(count)
    links = compose.campaign_links(crm.session, campaign.id)
    print(f"{len(newsletter()):,} characters of template, {len(links)} tracked links")
    compose.compose(crm, campaign, *pairs[0], links).as_bytes()  # warm-up, compiles
    samples: list[float] = []
    size = 0
    started, cpu = time.perf_counter(), time.process_time()
    for recipient, contact in pairs:
        t = time.perf_counter()
        raw = compose.compose(crm, campaign, recipient, contact, links).as_bytes()
        samples.append(time.perf_counter() - t)
        size += len(raw)
    total, cpu = time.perf_counter() - started, time.process_time() - cpu
    samples.sort()
    p50 = statistics.median(samples) * 1000
    p95 = samples[int(len(samples) * 0.95)] * 1000
    print(
        f"compose + as_bytes: {len(samples):,} messages in {total:.2f} s = "
        f"{len(samples) / total:,.0f} messages/s; per message p50 {p50:.2f} ms, "
        f"p95 {p95:.2f} ms; {size / len(samples) / 1024:.1f} KB each"
    )
    print(
        f"CPU time per message {cpu / len(samples) * 1000:.2f} ms "
        f"(= {len(samples) / cpu:,.0f} messages/s on one core, whatever else runs)"
    )


if __name__ == "__main__":
    main()
