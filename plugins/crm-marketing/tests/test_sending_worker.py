"""Sending with real concurrency: a ``crm worker`` killed in the middle of a send and restarted,
two clicks at the same moment, a cancel while sending, a sender that lost its lease.

These tests work on instances of their own (a SQLite file or a new PostgreSQL database on the
server of ``--crm-db``), since the ``app`` fixture's rolled-back transaction is invisible to
other connections and processes. The SMTP server (aiosmtpd) runs in the test process and
counts the messages it receives per envelope recipient.
"""

from __future__ import annotations

import collections
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from crm_marketing import outbox, sending
from crm_marketing.models import Campaign, Recipient
from sending_kit import BODY, CountingInbox
from sqlalchemy import select, update

from crmcore import Conflict
from crmcore.db import utcnow
from crmcore.testing import empty_database
from crmcore.testing.smtp import start_smtp, wait_for

CRM = str(Path(sys.executable).with_name("crm"))


@dataclass
class Instance:
    """A CRM instance folder with its own database and the marketing plugin enabled."""

    path: Path
    app: Any
    env: dict[str, str]

    @property
    def crm(self) -> Any:
        return self.app.extensions["crm"]

    def worker(self, log: Path) -> subprocess.Popen[bytes]:
        """``crm worker`` with one thread, its output in ``log`` (never a full pipe)."""
        out = log.open("ab")
        try:
            return subprocess.Popen(
                [CRM, "worker", "--workers", "1"],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        finally:
            out.close()

    def read(self, fn: Callable[[Any], Any]) -> Any:
        """``fn(session)`` in an application context of its own."""
        with self.app.app_context():
            try:
                return fn(self.crm.session)
            finally:
                self.crm.session.rollback()


@pytest.fixture
def instance(crm_database_url: str, tmp_path: Path) -> Iterator[Callable[..., Instance]]:
    """``instance(smtp_url=None, **marketing_settings)``: a new instance."""
    from crmcore.app import create_app
    from crmcore.instance import enable_plugin, init_instance

    stack = ExitStack()
    made: list[Instance] = []

    def make(smtp_url: str | None = None, **marketing: Any) -> Instance:
        url = stack.enter_context(empty_database(crm_database_url))
        path = tmp_path / f"instance{len(made)}"
        path.mkdir()
        lines = [
            f'database_url = "{url}"',
            f'secret_key = "{secrets.token_hex(24)}"',
            f'job_queue = "crmtest-{secrets.token_hex(4)}"',
            'mail_from = "crm@shop.example.com"',
        ]
        if smtp_url:
            lines.append(f'smtp_url = "{smtp_url}"')
        lines.append("[marketing]")
        lines += [f"{key} = {value!r}" for key, value in marketing.items()]
        (path / "crm.toml").write_text("\n".join(lines) + "\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_")}
        env["CRM_INSTANCE_PATH"] = str(path)
        app = create_app(path)
        with app.app_context():
            crm = app.extensions["crm"]
            init_instance(crm)
            enable_plugin(crm, "marketing")
            crm.session.commit()
        inst = Instance(path, app, env)
        made.append(inst)
        return inst

    yield make
    for inst in made:
        crm = inst.crm
        if "jobs" in crm.__dict__:
            crm.jobs.close()
        crm.engine.dispose()
    stack.close()


@pytest.fixture
def smtp() -> Iterator[CountingInbox]:
    controller, inbox = start_smtp(handler=CountingInbox())
    try:
        yield inbox  # type: ignore[misc]
    finally:
        controller.stop()


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def setup_campaign(inst: Instance, count: int, **fields: Any) -> int:
    """``count`` contacts in a segment and a draft campaign to them; the campaign's id."""
    with inst.app.app_context():
        records = inst.crm.records()
        results = records.create_many(
            "contacts",
            [
                {
                    "first_name": f"Kim{i}",
                    "last_name": "Example",
                    "email": f"kim{i}@mail.example.net",
                    "tags": ["news"],
                }
                for i in range(count)
            ],
        )
        assert all(not isinstance(r, Exception) for r in results)
        segment = records.create("segments", {"name": "News", "query": "tags=news"})
        campaign = records.create(
            "campaigns",
            {
                "name": "Spring news",
                "kind": "email",
                "segment_id": segment.id,
                "subject": "Spring news for {{ contact.first_name }}",
                "body_html": BODY,
                "from_email": "news@shop.example.com",
                **fields,
            },
        )
        return int(campaign.id)


def statuses(inst: Instance, campaign_id: int) -> dict[str, int]:
    return inst.read(lambda s: outbox.counts(s, campaign_id))  # type: ignore[no-any-return]


def campaign_status(inst: Instance, campaign_id: int) -> str:
    return inst.read(  # type: ignore[no-any-return]
        lambda s: s.scalar(select(Campaign.status).where(Campaign.id == campaign_id))
    )


def recipients(inst: Instance, campaign_id: int) -> list[Any]:
    return inst.read(  # type: ignore[no-any-return]
        lambda s: s.execute(
            select(Recipient.email, Recipient.status, Recipient.message_id).where(
                Recipient.campaign_id == campaign_id
            )
        ).all()
    )


def start_in(inst: Instance, campaign_id: int) -> None:
    with inst.app.app_context():
        crm = inst.crm
        sending.start(crm, crm.session.get(Campaign, campaign_id))


def run_in_thread(inst: Instance, campaign_id: int) -> tuple[threading.Thread, list[str]]:
    outcome: list[str] = []

    def run() -> None:
        with inst.app.app_context():
            outcome.append(sending.send_campaign(inst.app, campaign_id))

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


# the kill test ----------------------------------------------------------------------------------


def test_a_killed_worker_restarted_sends_everyone_exactly_one_message(instance, smtp, tmp_path):
    total = 300
    inst = instance(smtp_url=smtp.url, lease_seconds=2, retry_seconds=1)
    campaign_id = setup_campaign(inst, total, send_rate=60)
    start_in(inst, campaign_id)  # 202: the job waits in the queue
    assert statuses(inst, campaign_id)["queued"] == total
    log = tmp_path / "worker.log"

    first = inst.worker(log)
    try:
        wait_for(lambda: sum(smtp.per_recipient.values()) >= 70, timeout=60)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=15)
    time.sleep(0.5)  # the server finishes reading what reached it before the kill
    at_kill = sum(smtp.per_recipient.values())
    assert at_kill < total, "the worker finished before it was killed"
    time.sleep(1.0)  # nothing else sends while no worker runs
    assert sum(smtp.per_recipient.values()) == at_kill
    assert campaign_status(inst, campaign_id) == "sending"

    second = inst.worker(log)
    try:
        wait_for(lambda: campaign_status(inst, campaign_id) == "sent", timeout=120)
    finally:
        stop(second)
    output = log.read_text(errors="replace")

    rows = recipients(inst, campaign_id)
    by_status = collections.Counter(r.status for r in rows)
    assert by_status["queued"] == by_status["sending"] == by_status["handover"] == 0, output
    assert len(rows) == total
    # a message killed while its final dot was in flight is "unknown": delivered or not, it is
    # never sent again; every other recipient got exactly one message
    assert by_status["sent"] + by_status["unknown"] == total
    assert by_status["unknown"] <= 1, output
    for row in rows:
        got = smtp.per_recipient[row.email]
        assert got == 1 if row.status == "sent" else got <= 1, (row, got)
    assert max(smtp.per_recipient.values()) == 1
    assert sum(smtp.per_recipient.values()) >= total - 1
    ids = [m["Message-ID"] for m in smtp.parsed()]
    assert len(ids) == len(set(ids))  # one Message-ID per message, kept across the restart
    assert set(ids) <= {r.message_id for r in rows}
    assert f"campaign {campaign_id} sent" in output, output  # finished by the second worker


class KillingInbox(CountingInbox):
    """Kills the worker when the ``at``-th message has reached the server in full and the
    worker waits for the answer to its final dot: the message is kept, the answer never
    arrives. The moment of the crash is chosen, so the outcome is exact."""

    def __init__(self, at: int) -> None:
        super().__init__()
        self.at = at
        self.victim: subprocess.Popen[bytes] | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        answer = await super().handle_DATA(server, session, envelope)
        if sum(self.per_recipient.values()) == self.at and self.victim is not None:
            self.victim.send_signal(signal.SIGKILL)
            self.victim.wait(timeout=15)
        return answer


def test_a_worker_killed_awaiting_the_servers_answer_still_mails_everyone_once(
    instance, tmp_path
):
    """The hardest moment to die: the server has the message, the CRM has not heard so. The row
    is left ``unknown`` (never sent twice) and every recipient, that one included, has exactly
    one message once a new worker finished the rest."""
    total = 120
    controller, smtp = start_smtp(handler=KillingInbox(at=40))
    try:
        inst = instance(smtp_url=smtp.url, lease_seconds=2, retry_seconds=1)
        campaign_id = setup_campaign(inst, total, send_rate=200)
        start_in(inst, campaign_id)
        log = tmp_path / "worker.log"
        smtp.victim = inst.worker(log)
        wait_for(lambda: smtp.victim.poll() is not None, timeout=60)
        assert sum(smtp.per_recipient.values()) == 40
        second = inst.worker(log)
        try:
            wait_for(lambda: campaign_status(inst, campaign_id) == "sent", timeout=120)
        finally:
            stop(second)
    finally:
        controller.stop()
    rows = recipients(inst, campaign_id)
    by_status = collections.Counter(r.status for r in rows)
    assert by_status == {"sent": total - 1, "unknown": 1}, log.read_text(errors="replace")
    assert len(smtp.per_recipient) == total
    assert set(smtp.per_recipient.values()) == {1}  # everyone, exactly once


# races ------------------------------------------------------------------------------------------


def test_two_clicks_at_the_same_moment_start_the_campaign_once(instance):
    inst = instance()
    campaign_id = setup_campaign(inst, 20)
    barrier = threading.Barrier(2)
    results: list[str] = []

    def click() -> None:
        with inst.app.app_context():
            crm = inst.crm
            campaign = crm.session.get(Campaign, campaign_id)
            crm.session.commit()  # loaded; no transaction held while waiting
            barrier.wait()
            try:
                sending.start(crm, campaign)
                results.append("202")
            except Conflict:
                results.append("409")

    threads = [threading.Thread(target=click) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results) == ["202", "409"]
    assert statuses(inst, campaign_id)["queued"] == 20
    assert inst.crm.jobs.pending_count() == 1  # one send job queued


def test_cancel_while_sending_stops_it_within_moments(instance, smtp):
    total = 80
    inst = instance(smtp_url=smtp.url, lease_seconds=5)
    campaign_id = setup_campaign(inst, total, send_rate=20)
    start_in(inst, campaign_id)
    thread, outcome = run_in_thread(inst, campaign_id)
    try:
        wait_for(lambda: sum(smtp.per_recipient.values()) >= 10)
        with inst.app.app_context():
            crm = inst.crm
            sending.cancel(crm, crm.session.get(Campaign, campaign_id))
        cancelled_at = time.monotonic()
    finally:
        thread.join(30)
    assert outcome == ["cancelled"]
    assert time.monotonic() - cancelled_at < 3
    found = statuses(inst, campaign_id)
    assert found["sending"] == found["handover"] == 0
    assert found["queued"] > 0 and found["sent"] + found["queued"] + found["unknown"] == total
    received = sum(smtp.per_recipient.values())
    assert found["sent"] <= received <= found["sent"] + found["unknown"]
    assert campaign_status(inst, campaign_id) == "cancelled"
    assert inst.read(lambda s: s.get(Campaign, campaign_id).lease_owner) is None
    time.sleep(0.5)
    assert sum(smtp.per_recipient.values()) == received


def test_a_sender_that_lost_its_lease_sends_nothing_more(instance, smtp):
    inst = instance(smtp_url=smtp.url, lease_seconds=30)
    campaign_id = setup_campaign(inst, 40, send_rate=5)
    start_in(inst, campaign_id)
    thread, outcome = run_in_thread(inst, campaign_id)
    try:
        wait_for(lambda: sum(smtp.per_recipient.values()) >= 3)
        with inst.app.app_context():  # another sender takes the campaign over
            session = inst.crm.session
            session.execute(
                update(Campaign)
                .where(Campaign.id == campaign_id)
                .values(lease_owner="thief:1:0", lease_until=utcnow().replace(year=2099))
            )
            outbox.recover(session, campaign_id)
            session.commit()
        stolen_at = sum(smtp.per_recipient.values())
    finally:
        thread.join(30)
    assert outcome == ["lost"]
    rows = recipients(inst, campaign_id)
    # the rows the thief put back in the queue were never sent by the old sender
    for row in rows:
        if row.status == "queued":
            assert smtp.per_recipient[row.email] == 0, row
    assert sum(smtp.per_recipient.values()) <= stolen_at + 1  # at most the one in hand-over
    assert inst.read(lambda s: s.get(Campaign, campaign_id).lease_owner) == "thief:1:0"
