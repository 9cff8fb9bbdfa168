"""Campaign sending speed: a 10,000-recipient campaign to a local SMTP server, one sender.

The send job (what `crm worker` runs: lease, one commit per message, exactly-once hand-over,
per-recipient rendering with tracking links) runs in this process with no rate limit, against
an aiosmtpd server in a process of its own. Prints messages/s, goal >= 200.

Baseline in the same run: raw `smtplib` handing the same messages, built beforehand, to the
same server on one connection (what the server and the SMTP dialogue alone allow). Also shown:
composing the messages alone, and the start (the outbox of 10,000 rows written in one
transaction).
Run: python bench/marketing_send.py (BENCH_SEND_CONTACTS overrides 10,000; SQLite instance)
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import smtplib
import tempfile
import time
from pathlib import Path
from typing import Any

GOAL = 200


def smtp_server(port: int, counter: Any, ready: Any) -> None:
    """An aiosmtpd server that counts the messages it accepts (runs in its own process)."""
    from aiosmtpd.controller import Controller

    class Counting:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            with counter.get_lock():
                counter.value += 1
            return "250 OK"

    controller = Controller(Counting(), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


def build(count: int) -> tuple[Any, Path, int]:
    """An instance with ``count`` contacts, the marketing plugin, a segment and a campaign."""
    os.environ.pop("BENCH_INSTANCE", None)  # our own instance, not the shared 1M one
    from common import build_instance

    path = Path(tempfile.mkdtemp(prefix="crm-bench-send-"))
    app, _ = build_instance(count, path)
    with app.app_context():
        from crmcore.instance import enable_plugin

        crm = app.extensions["crm"]
        enable_plugin(crm, "marketing")
        crm.session.commit()
        records = crm.records()
        segment = records.create("segments", {"name": "Everyone", "query": ""})
        campaign = records.create(
            "campaigns",
            {
                "name": "Spring news",
                "kind": "email",
                "segment_id": segment.id,
                "subject": "Spring news for {{ contact.first_name }}",
                "body_html": (
                    "<h1>Hello {{ contact.first_name }} {{ contact.last_name }}</h1>"
                    "<p>Our spring collection is here. "
                    '<a href="https://shop.example.com/spring">See it</a> or visit '
                    '<a href="https://shop.example.com/stores">a store</a> in '
                    "{{ contact.city }}.</p><p>See you soon,<br>The shop</p>"
                ),
                "from_email": "news@shop.example.com",
                "from_name": "The Shop",
            },
        )
        return app, path, int(campaign.id)


def main() -> None:
    count = int(os.environ.get("BENCH_SEND_CONTACTS", "10000"))
    from crmcore.testing.smtp import free_port

    port = free_port()
    spawn = multiprocessing.get_context("spawn")
    counter, ready = spawn.Value("i", 0), spawn.Event()
    server = spawn.Process(target=smtp_server, args=(port, counter, ready), daemon=True)
    server.start()
    ready.wait(30)
    os.environ["CRM_SMTP_URL"] = f"smtp://127.0.0.1:{port}"
    os.environ["CRM_MARKETING_SEND_RATE"] = "0"  # no rate limit
    path: Path | None = None
    try:
        started = time.perf_counter()
        app, path, campaign_id = build(count)
        print(f"instance with {count:,} contacts built in {time.perf_counter() - started:.0f} s")
        with app.app_context():
            from crm_marketing import outbox, sending
            from crm_marketing.models import Campaign

            crm = app.extensions["crm"]
            campaign = crm.session.get(Campaign, campaign_id)
            started = time.perf_counter()
            sending.start(crm, campaign)
            start_seconds = time.perf_counter() - started
            queued = outbox.counts(crm.session, campaign_id)["queued"]
            crm.session.rollback()

            started = time.perf_counter()
            outcome = sending.send_campaign(app, campaign_id)
            while outcome == "continued":  # a slow machine: the next slice, as a worker would
                outcome = sending.send_campaign(app, campaign_id)
            seconds = time.perf_counter() - started
            found = outbox.counts(crm.session, campaign_id)
            crm.session.rollback()
            assert outcome == "sent" and found["sent"] == queued, (outcome, found)

            messages, compose_seconds = prebuilt(crm, campaign_id)
        received = counter.value
        started = time.perf_counter()
        with smtplib.SMTP("127.0.0.1", port) as client:
            for sender, to, data in messages:
                client.sendmail(sender, [to], data)
        raw_seconds = time.perf_counter() - started
        assert counter.value == received + len(messages)
    finally:
        server.terminate()
        if path is not None:
            shutil.rmtree(path, ignore_errors=True)
    rate = queued / seconds
    raw = len(messages) / raw_seconds
    print(
        f"campaign send of {queued:,} messages, one sender, no rate limit: {rate:,.0f} msg/s "
        f"({seconds:.1f} s), goal >= {GOAL}: {'met' if rate >= GOAL else 'MISSED'}"
    )
    print(
        f"  baseline smtplib, same messages pre-built, one connection: {raw:,.0f} msg/s; "
        f"ratio {rate / raw:.2f}"
    )
    print(
        f"  composing alone: {len(messages) / compose_seconds:,.0f} msg/s; "
        f"start (outbox of {queued:,} rows): {start_seconds * 1000:.0f} ms"
    )


def prebuilt(crm: Any, campaign_id: int) -> tuple[list[tuple[str, str, bytes]], float]:
    """The campaign's messages composed again, as bytes (the baseline's input), and the time
    composing took."""
    from crm_marketing import compose
    from crm_marketing.models import Campaign, Recipient
    from crm_marketing.smtp_session import message_bytes
    from flask_babel import force_locale
    from sqlalchemy import select
    from sqlalchemy.orm import selectinload

    session = crm.session
    campaign = session.get(Campaign, campaign_id)
    links = compose.campaign_links(session, campaign_id)
    contact_model = crm.registry.get("contacts").model
    rows = session.execute(
        select(Recipient, contact_model)
        .join(contact_model, contact_model.id == Recipient.contact_id)
        .where(Recipient.campaign_id == campaign_id, Recipient.status == "sent")
        .options(selectinload(contact_model.company))
        .order_by(Recipient.id)
    ).all()
    started = time.perf_counter()
    with force_locale("en"):
        built = [compose.compose(crm, campaign, r, c, links) for r, c in rows]
    seconds = time.perf_counter() - started
    sender = campaign.from_email
    return [
        (sender, r.email, message_bytes(m)) for (r, _c), m in zip(rows, built, strict=True)
    ], seconds


if __name__ == "__main__":
    main()
