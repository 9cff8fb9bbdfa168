"""Webhook deliveries per second to a local receiver, with one job worker.

Contacts are created through the record service (each writes one outbox row), then one Huey
worker thread drains the queue: per delivery it claims the row, signs the body, runs the SSRF
guard (the receiver's host is allow-listed, as an admin would), POSTs to a pinned connection
and logs the attempt. The baseline, measured in the same run against the same receiver, is the
bare transport: the same number of plain ``urllib`` POSTs of the same bodies, one thread.
Goal: at least 200 deliveries/s.  Run: BENCH_WEBHOOKS=2000 python bench/webhooks.py
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.count += 1  # type: ignore[attr-defined]
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def main() -> None:
    count = int(os.environ.get("BENCH_WEBHOOKS", "2000"))
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    receiver.count = 0  # type: ignore[attr-defined]
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{receiver.server_address[1]}/hook"

    from crm_automation.webhooks.models import AutomationWebhookDelivery
    from sqlalchemy import func, select

    from crmcore.app import create_app
    from crmcore.instance import create_user, enable_plugin, init_instance
    from crmcore.jobs.embedded import start_embedded
    from crmcore.settings import Setting

    path = Path(tempfile.mkdtemp(prefix="crm-bench-webhooks-"))
    app = create_app(path, config={"secret_key": "bench-" + "x" * 40})
    with app.app_context():
        crm = app.extensions["crm"]
        init_instance(crm)
        enable_plugin(crm, "automation")
        crm.forget_enabled()
        admin = create_user(crm, "admin@example.com", "Bench-password-1", "admin")
        crm.session.add(Setting(key="webhook_allowed_hosts", value=["127.0.0.1"]))
        crm.session.commit()
        records = crm.records()
        start = time.perf_counter()
        for i in range(count // 4):
            records.create("contacts", {"first_name": "Plain", "last_name": f"Person {i}"})
        plain = (count // 4) / (time.perf_counter() - start)
        records.create("webhooks", {"name": "Bench", "url": url, "entities": "contacts",
                                    "owner_id": admin.id})  # fmt: skip
        start = time.perf_counter()
        for i in range(count):
            records.create("contacts", {"first_name": "Bench", "last_name": f"Person {i}"})
        made = time.perf_counter() - start
        bodies = [
            b.encode()
            for b in crm.session.scalars(select(AutomationWebhookDelivery.body)).all()
        ]
        print(f"contact writes: {plain:,.0f}/s without a webhook, {count / made:,.0f}/s with "
              f"one (outbox row and queued job): {count / made / plain:.2f}x")  # fmt: skip

    # the bare transport: plain urllib POSTs of the same bodies, one thread
    receiver.count = 0  # type: ignore[attr-defined]
    start = time.perf_counter()
    for body in bodies:
        request = urllib.request.Request(url, data=body, method="POST",
                                         headers={"Content-Type": "application/json"})  # fmt: skip
        urllib.request.urlopen(request, timeout=10).close()  # noqa: S310  (a local http URL)
    raw = time.perf_counter() - start

    receiver.count = 0  # type: ignore[attr-defined]
    start, began_cpu = time.perf_counter(), time.process_time()
    consumer = start_embedded(app, workers=1, periodic=False, max_delay=0.1)
    try:
        with app.app_context():
            session = app.extensions["crm"].session
            while True:
                left = session.scalar(
                    select(func.count())
                    .select_from(AutomationWebhookDelivery)
                    .where(AutomationWebhookDelivery.state == "pending")
                )
                session.rollback()
                if not left:
                    break
                time.sleep(0.05)
        took = time.perf_counter() - start
        cpu = time.process_time() - began_cpu  # the worker, the receiver and this poll
    finally:
        consumer.stop(graceful=True)
    delivered = receiver.count  # type: ignore[attr-defined]
    rate, raw_rate = delivered / took, len(bodies) / raw
    print(f"baseline: raw urllib POSTs, one thread    {raw_rate:8,.0f} /s")
    print(f"webhook deliveries, one worker           {rate:8,.0f} /s "
          f"({rate / raw_rate:.2f}x baseline; CPU {cpu:.1f} s for the drain)")  # fmt: skip
    print(f"  deliveries {rate:,.0f}/s, {rate / 200:.2f}x the goal: "
          f"{'PASS' if rate >= 200 else 'MISS'} (goal >= 200/s with one worker)")  # fmt: skip
    assert delivered == len(bodies), (delivered, len(bodies))


if __name__ == "__main__":
    main()
