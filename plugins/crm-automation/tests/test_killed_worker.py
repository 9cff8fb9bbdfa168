"""A real ``crm worker`` killed with SIGKILL in the middle of a rule's call-webhook step, then a
second worker: the cut-short step is never done again by the engine - as its call was in the
delivery log already, it is recorded as done, handed to the log - the next step is done
exactly once, and the run history says so (SQLite, and PostgreSQL with ``--crm-db``).

What the plugin promises (docs/user-guide/automation.md, "A stopped worker" and "Delivery,
retries and the delivery log"): a step a killed worker left started is settled by
``automation.recover_runs`` after 15 minutes, never done a second time - failed ("cut short"),
or for a call-webhook step whose delivery was committed, done (the log sends it); the webhook
request itself is a delivery whose claim lasts a lease (5 minutes), after which it is attempted
again as a retry of the same delivery - the same ``X-CRM-Delivery`` and ``X-CRM-Event-Id`` -
so the receiver can tell it has it already. The test does not wait those minutes: it gives
the recovery job and the delivery sweep a clock moved past them.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from crmcore.testing.browser import CRM, free_port, instance_env, run_crm

PASSWORD = "Killed-worker-password-1"
#: how long the receiver holds the first request (the kill lands well before)
HOLD_SECONDS = 60


@dataclass
class HoldingReceiver:
    """A webhook receiver on 127.0.0.1 that records every request and holds the first one
    until ``release`` is set (a slow chat tool), answering the others at once."""

    port: int = 0
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"


@pytest.fixture
def receiver() -> Iterator[HoldingReceiver]:
    state = HoldingReceiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            state.requests.append((dict(self.headers.items()), body))
            if len(state.requests) == 1:
                state.release.wait(HOLD_SECONDS)
            try:
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
            except OSError:  # the worker that sent it is gone
                pass

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([CRM, "worker", "--workers", "1", "--no-periodic"], env=env,
                                stdout=out, stderr=subprocess.STDOUT)  # fmt: skip


def stop_worker(worker: subprocess.Popen[bytes]) -> None:
    if worker.poll() is None:
        worker.terminate()
    try:
        worker.wait(timeout=20)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait(timeout=10)


@pytest.fixture
def instance(tmp_path: Path, instance_database: str | None) -> Iterator[dict[str, Any]]:
    """An instance folder with automation enabled, an admin, and its app in this process;
    jobs on Huey's SQLite storage in the folder, shared with the worker subprocesses."""
    from crmcore.app import create_app

    path = tmp_path / "instance"
    path.mkdir()
    url = instance_database or f"sqlite:///{path / 'crm.db'}"
    (path / "crm.toml").write_text(
        f'database_url = "{url}"\nsecret_key = "{secrets.token_hex(24)}"\n'
        f'job_queue = "crmtest-{secrets.token_hex(4)}"\n'
        "job_stale_seconds = 2\n"  # a dead worker's jobs are queued again 2 s after it died
    )
    env = instance_env(path, free_port(), None)  # as this process sees it: the same queue
    run_crm(env, "init")
    run_crm(env, "plugins", "enable", "automation")
    run_crm(env, "users", "create", "admin@example.com", "--password", PASSWORD,
            "--role", "admin")  # fmt: skip
    app = create_app(path)
    try:
        with app.app_context():
            yield {"path": path, "env": env, "app": app, "crm": app.extensions["crm"]}
    finally:
        crm = app.extensions["crm"]
        if "jobs" in crm.__dict__:
            if crm.jobs.storage == "redis":
                crm.jobs.huey.flush()
            crm.jobs.close()
        crm.engine.dispose()


def test_a_worker_killed_mid_webhook_call_leaves_each_step_done_once_or_failed(
    instance: dict[str, Any], receiver: HoldingReceiver
) -> None:
    from crmcore.activities.models import Task
    from crmcore.jobs.recovery import RUNNING
    from crmcore.permissions import Access
    from crmcore.settings import Setting, forget_settings
    from crmcore.users.models import User
    from sqlalchemy import select

    from crm_automation.engine import HANDED_OVER, STALE_AFTER
    from crm_automation.models import AutomationRun
    from crm_automation.webhooks import delivery as delivery_mod
    from crm_automation.webhooks.models import AutomationWebhookDelivery

    crm, env, path = instance["crm"], instance["env"], instance["path"]
    session, jobs = crm.session, crm.jobs
    session.add(Setting(key="webhook_allowed_hosts", value=["127.0.0.1"]))
    session.commit()
    forget_settings()
    admin = session.scalar(select(User).where(User.email == "admin@example.com"))
    records = crm.records(Access.for_user(admin))
    rule = records.create("workflows", {
        "name": "Welcome", "entity": "contacts", "trigger": {"type": "created"},
        "actions": [{"type": "call_webhook", "url": receiver.url},
                    {"type": "create_task", "title": "Call {{ record.first_name }}"}],
    })  # fmt: skip
    rule_id = rule.id
    session.rollback()

    def run() -> Any:
        """The rule's one run, read in a transaction ended at once (on SQLite this process
        must not hold the database while the worker writes)."""
        query = select(AutomationRun.status, AutomationRun.record_id, AutomationRun.results)
        found = session.execute(query.where(AutomationRun.workflow_id == rule_id)).one()
        session.rollback()
        return found

    def tasks() -> list[str]:
        titles = list(session.scalars(select(Task.title)))
        session.rollback()
        return titles

    def running_jobs() -> list[str]:
        return [k for k in jobs.huey.storage.result_items() if k.startswith(RUNNING)]

    log = path / "worker.log"
    first = start_worker(env, log)
    try:
        contact_id = records.create("contacts", {"first_name": "Ana", "last_name": "Gil"}).id
        session.rollback()
        wait_for(lambda: receiver.requests, 60, "the webhook request")
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=15)
    # the worker died inside step 1: started, not finished; step 2 never queued
    steps = run().results
    assert [s["status"] for s in steps] == ["started", "pending"], steps
    assert steps[0]["attempts"] == 1 and not tasks()
    assert running_jobs()  # its job died with it

    time.sleep(2.5)  # the dead worker's heartbeat goes stale
    second = start_worker(env, log)
    try:
        # the second worker queues the lost job again and runs it: it finds the step started
        # (perhaps done) and leaves it alone
        wait_for(lambda: not running_jobs() and jobs.pending_count() == 0, 60,
                 "the lost job to be queued again and run")  # fmt: skip
        time.sleep(1)
        steps = run().results
        assert [s["status"] for s in steps] == ["started", "pending"], steps
        assert steps[0]["attempts"] == 1 and len(receiver.requests) == 1 and not tasks()

        # 15 minutes later the recovery job (run by the worker) settles the step
        later = dt.datetime.now(dt.UTC) + STALE_AFTER + dt.timedelta(minutes=1)
        jobs.enqueue("crm_automation.engine:recover_runs", later)
        wait_for(lambda: run().status in ("done", "failed"), 60, "the run to end")
        time.sleep(1)  # any duplicate of step 2 would have run by now
    finally:
        stop_worker(second)
    output = log.read_text(errors="replace")
    assert "queued again" in output, output

    finished = run()
    first_step, second_step = finished.results
    [delivery] = session.scalars(select(AutomationWebhookDelivery)).all()
    # the call was in the delivery log before the worker died: the step is done, its call is
    # the log's to send (at least once), the run history names the delivery
    assert (first_step["status"], first_step["attempts"]) == ("done", 1), first_step
    assert first_step["result"] == HANDED_OVER % delivery.delivery_id
    assert (second_step["status"], second_step["attempts"]) == ("done", 1), second_step
    assert finished.status == "done" and finished.record_id == contact_id
    assert tasks() == ["Call Ana"]
    assert len(receiver.requests) == 1  # the engine never called the webhook again

    # the request itself is a delivery claimed for 5 minutes; after that it is attempted again
    # as a retry of the same delivery, which the receiver can recognise
    assert delivery.state == "pending" and delivery.attempts == 0
    soon = dt.datetime.now(dt.UTC)
    assert delivery_mod.drain(crm, session, now=soon) == 0  # still leased: nobody sends it
    after_lease = soon + delivery_mod.LEASE + dt.timedelta(seconds=1)
    assert delivery_mod.drain(crm, session, now=after_lease) == 1
    assert delivery_mod.drain(crm, session, now=after_lease) == 0  # once
    session.refresh(delivery)
    assert delivery.state == "delivered" and delivery.attempts == 1
    (headers, body), (again, body_again) = receiver.requests
    assert again["X-CRM-Delivery"] == headers["X-CRM-Delivery"] == delivery.delivery_id
    assert again["X-CRM-Event-Id"] == headers["X-CRM-Event-Id"] == delivery.event_id
    assert body_again == body
    assert run().results == finished.results  # the delivery does not touch the run

    # the run history says what happened to each step
    session.rollback()
    answer = subprocess.run([CRM, "automation", "history", str(rule_id)], env=env,
                            capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    history = answer.stdout
    assert answer.returncode == 0, answer.stdout + answer.stderr
    assert f"\tdone\tcontact #{contact_id}\tcreated" in history, history
    assert f"1. call_webhook: done {HANDED_OVER % delivery.delivery_id}" in history, history
    assert "2. create_task: done Task #" in history, history
