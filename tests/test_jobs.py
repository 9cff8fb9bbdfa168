"""Jobs on Huey (SQLite storage and Redis), periodic jobs, task reminders and notifications.

Consumers are real: Huey's consumer in threads of this process, ``crm worker`` and ``crm serve``
in subprocesses. They work on instances of their own (``make_instance``), since the ``app``
fixture's rolled-back transaction is invisible to other connections.
"""

import datetime as dt
import os
import threading
from email import message_from_bytes, policy

import pytest
from ops_support import free_port, make_instance, start_smtp, stop_process, wait_for
from sqlalchemy import func, select

from crmcore.activities.models import Task
from crmcore.jobs import JobError
from crmcore.jobs.embedded import start_embedded
from crmcore.jobs.reminders import deliver_task_reminders
from crmcore.notifications import Notification

__all__ = ["make_instance"]  # the fixture, imported for pytest

REDIS_URL = os.environ.get("CRM_TEST_REDIS_URL")
needs_redis = pytest.mark.skipif(
    not REDIS_URL,
    reason="CRM_TEST_REDIS_URL is unset: no Redis server for the Redis-storage "
    "tests (scripts/test starts one)",
)

NOW = dt.datetime.now(dt.UTC)


def _due_task(records, user, minutes_ago=5, **fields):
    data = {
        "title": "Call Ana back",
        "assignee_id": user.id,
        "due_at": (NOW + dt.timedelta(hours=1)).isoformat(),
        "reminder_at": (NOW - dt.timedelta(minutes=minutes_ago)).isoformat(),
        **fields,
    }
    return records.create("tasks", data)


def _outbox_for(crm, email):
    folder = crm.settings.instance_path / "outbox"
    found = []
    for path in sorted(folder.glob("*.eml")) if folder.exists() else []:
        msg = message_from_bytes(path.read_bytes(), policy=policy.default)
        if msg["To"] == email:
            found.append(msg)
    return found


def _notifications(session, user_id):
    return list(
        session.scalars(
            select(Notification).where(Notification.user_id == user_id).order_by(Notification.id)
        )
    )


# enqueue and consume ----------------------------------------------------------------------------


def test_storage_is_sqlite_in_the_instance_by_default(make_instance):
    inst = make_instance()
    jobs = inst.crm.jobs
    assert jobs.storage == "sqlite"
    assert jobs.huey.storage.filename == str(inst.path / "jobs.db")
    assert inst.crm.jobs is jobs  # one queue per app
    other = make_instance("other")
    assert other.crm.jobs is not jobs and other.crm.jobs.huey is not jobs.huey


def test_the_sqlite_queue_syncs_like_the_main_database(make_instance):
    """WAL with synchronous=NORMAL (1): an enqueue does not wait for the disk (FULL is 2)."""
    storage = make_instance().crm.jobs.huey.storage
    assert storage.conn.execute("pragma synchronous").fetchone()[0] == 1
    assert storage.conn.execute("pragma journal_mode").fetchone()[0] == "wal"


def test_enqueue_checks_the_target(make_instance):
    jobs = make_instance().crm.jobs
    for bad in (
        "no_colon",
        "crmcore.nothing_here:f",
        "crmcore.mail:no_such_function",
        "os:system; rm",
    ):
        with pytest.raises(JobError):
            jobs.enqueue(bad)
    with pytest.raises(JobError):
        jobs.enqueue("ops_support:write_marker", "x", delay=1, eta=dt.datetime.now(dt.UTC))
    assert jobs.pending_count() == 0


def test_consumer_thread_runs_a_job_in_an_app_context(make_instance, tmp_path):
    inst = make_instance()
    marker = tmp_path / "marker"
    result = inst.crm.jobs.enqueue("ops_support:write_marker", str(marker), value="hello")
    assert inst.crm.jobs.pending_count() == 1
    # no periodic jobs here: one due at a minute boundary would be left pending at the end
    consumer = start_embedded(inst.app, workers=1, periodic=False)
    try:
        assert result.get(blocking=True, timeout=8) == "hello"
    finally:
        consumer.stop(graceful=True)
    assert marker.read_text() == f"hello\n{inst.path}"
    assert inst.crm.jobs.pending_count() == 0


def test_delay_and_retries(make_instance, tmp_path):
    inst = make_instance()
    jobs = inst.crm.jobs
    delayed = tmp_path / "delayed"
    jobs.enqueue("ops_support:write_marker", str(delayed), delay=1.5)
    assert jobs.huey.scheduled_count() == 0 and jobs.pending_count() == 1
    counter, done = tmp_path / "count", tmp_path / "done"
    jobs.enqueue("ops_support:fail_times", str(counter), 2, str(done), retries=2)
    never = tmp_path / "never"
    jobs.enqueue("ops_support:fail_times", str(tmp_path / "count2"), 5, str(never), retries=1)
    started = dt.datetime.now()
    consumer = start_embedded(inst.app, workers=2, max_delay=0.2)
    try:
        wait_for(done.exists)
        assert counter.read_text() == "3"  # two failures, then success
        assert not delayed.exists() or dt.datetime.now() - started >= dt.timedelta(seconds=1.4)
        wait_for(delayed.exists)
        assert dt.datetime.now() - started >= dt.timedelta(seconds=1.4)
        wait_for(lambda: (tmp_path / "count2").read_text() == "2")
    finally:
        consumer.stop(graceful=True)
    assert not never.exists()  # out of retries


def test_eta_in_the_future_waits(make_instance, tmp_path):
    inst = make_instance()
    marker = tmp_path / "eta"
    inst.crm.jobs.enqueue(
        "ops_support:write_marker", str(marker), eta=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    )
    consumer = start_embedded(inst.app, workers=1, max_delay=0.2)
    try:
        wait_for(lambda: inst.crm.jobs.huey.scheduled_count() == 1)
    finally:
        consumer.stop(graceful=True)
    assert not marker.exists()


# periodic jobs ----------------------------------------------------------------------------------


def test_periodic_jobs_come_from_plugins_and_respect_enabled_state(app, crm):
    from crmcore.instance import disable_plugin, enable_plugin

    jobs = crm.jobs
    assert {"core.task_reminders", "everyhook.everyhook-tick"} <= set(jobs.periodic)
    names = {t.__name__ for t in jobs.huey._registry._registry.values()}
    assert "periodic.everyhook.everyhook-tick" in names
    app.extensions.pop("everyhook_job_runs", None)
    assert "everyhook" not in crm.enabled_plugins()
    assert jobs.run_periodic("everyhook.everyhook-tick") is False
    assert "everyhook_job_runs" not in app.extensions
    enable_plugin(crm, "widgets")
    enable_plugin(crm, "everyhook")
    crm.forget_enabled()
    assert jobs.run_periodic("everyhook.everyhook-tick") is True
    assert app.extensions["everyhook_job_runs"] == 1
    disable_plugin(crm, "everyhook")
    crm.forget_enabled()
    assert jobs.run_periodic("everyhook.everyhook-tick") is False
    assert app.extensions["everyhook_job_runs"] == 1


# reminders --------------------------------------------------------------------------------------


def test_reminder_delivered_once_in_app_and_by_mail(app, crm, records, make_user, session):
    ana = make_user(name="Ana", timezone="Europe/Madrid")
    task = _due_task(records, ana)
    later = _due_task(records, ana, minutes_ago=-60, title="Not yet")
    done = _due_task(records, ana, title="Finished", status="done")
    other = make_user()
    unassigned = records.create(
        "tasks", {"title": "Nobody's", "assignee_id": other.id, "reminder_at": NOW.isoformat()}
    )
    records.delete("tasks", unassigned)  # in the trash: no reminder

    assert deliver_task_reminders(app) == 1
    assert deliver_task_reminders(app) == 0  # running again notifies nobody twice

    notes = _notifications(session, ana.id)
    assert [(n.kind, n.title, n.link_entity, n.link_id) for n in notes] == [
        ("task_reminder", "Reminder: Call Ana back", "tasks", task.id)
    ]
    assert "CET" in notes[0].body or "CEST" in notes[0].body  # in the user's time zone
    mails = _outbox_for(crm, ana.email)
    assert len(mails) == 1 and mails[0]["Subject"] == "Reminder: Call Ana back"
    assert f"/tasks/{task.id}" in mails[0].get_content()
    session.expire_all()
    assert session.get(Task, task.id).reminded_at is not None
    assert session.get(Task, later.id).reminded_at is None
    assert session.get(Task, done.id).reminded_at is None
    assert _notifications(session, other.id) == []


def test_reminder_in_the_assignees_language(app, crm, records, make_user, session):
    lucia = make_user(name="Lucía", locale="es")
    _due_task(records, lucia, title="Llamar a Ana")
    assert deliver_task_reminders(app) == 1
    (note,) = _notifications(session, lucia.id)
    assert note.title == "Recordatorio: Llamar a Ana" and note.body.startswith("Vence el ")
    (mail,) = _outbox_for(crm, lucia.email)
    assert mail["Subject"] == "Recordatorio: Llamar a Ana"
    assert "Hola, Lucía:" in mail.get_content() and "Tarea: Llamar a Ana" in mail.get_content()


def test_reminder_mail_through_smtp_peer(app, crm, records, make_user):
    controller, inbox = start_smtp()
    before = crm.settings.smtp_url
    crm.settings.smtp_url = f"smtp://127.0.0.1:{controller.port}"
    try:
        bea = make_user(name="Bea")
        _due_task(records, bea, title="Send the quote")
        assert deliver_task_reminders(app) == 1
        assert inbox.event.wait(5)
    finally:
        crm.settings.smtp_url = before
        controller.stop()
    assert inbox.messages[0]["rcpt_tos"] == [bea.email]
    assert b"Reminder: Send the quote" in inbox.messages[0]["data"]


def test_reminders_claimed_exactly_once_by_concurrent_runs(make_instance):
    from crmcore.instance import create_user

    inst = make_instance()
    with inst.app.app_context():
        user = create_user(inst.crm, "rep@example.com", "Correct-horse-battery-9", "sales_rep")
        records = inst.crm.records()
        for i in range(40):
            _due_task(records, user, title=f"Task {i}")
    counts = []
    barrier = threading.Barrier(3)

    def run():
        barrier.wait()
        with inst.app.app_context():
            counts.append(deliver_task_reminders(inst.app))

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sum(counts) == 40
    with inst.app.app_context():
        session = inst.crm.session
        assert session.scalar(select(func.count()).select_from(Notification)) == 40
        assert (
            session.scalar(select(func.count()).select_from(Task).where(Task.reminded_at.is_(None)))
            == 0
        )
    assert len(_outbox_for(inst.crm, "rep@example.com")) == 40


# real consumers: crm worker (SQLite storage and Redis) and crm serve ----------------------------


def _add_due_task(inst, email):
    from crmcore.instance import create_user

    with inst.app.app_context():
        user = create_user(inst.crm, email, "Correct-horse-battery-9", "sales_rep")
        _due_task(inst.crm.records(), user)
        return user.id


def _notification_count(inst, user_id):
    with inst.app.app_context():
        return inst.crm.session.scalar(
            select(func.count()).select_from(Notification).where(Notification.user_id == user_id)
        )


@pytest.mark.parametrize("storage", ["sqlite", pytest.param("redis", marks=needs_redis)])
def test_crm_worker_runs_jobs_and_periodic_reminders(make_instance, tmp_path, storage):
    inst = make_instance(redis_url=REDIS_URL if storage == "redis" else None)
    assert inst.crm.jobs.storage == storage
    user_id = _add_due_task(inst, "carla@example.com")
    marker = tmp_path / "from-worker"
    result = inst.crm.jobs.enqueue("ops_support:write_marker", str(marker), "via worker")
    worker = inst.popen("worker", "--workers", "2")
    try:
        assert result.get(blocking=True, timeout=45) == "via worker"  # result back from it
        # the scheduler enqueues due periodic jobs as it starts: the reminder job runs
        wait_for(lambda: _notification_count(inst, user_id) == 1, timeout=45)
    finally:
        output = stop_process(worker)
    assert marker.read_text().startswith("via worker")
    assert f"{storage} storage" in output
    assert worker.returncode == 0, output
    assert len(_outbox_for(inst.crm, "carla@example.com")) == 1


def test_crm_serve_runs_one_embedded_consumer(make_instance, tmp_path):
    import urllib.request

    inst = make_instance()
    user_id = _add_due_task(inst, "dora@example.com")
    port = free_port()
    server = inst.popen("serve", "--port", str(port), "--workers", "2", "--threads", "1")
    try:

        def up():
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/api/v1/openapi.json", timeout=1
                ) as response:
                    return response.status == 200
            except OSError:
                return False

        wait_for(up, timeout=45)
        results = [
            inst.crm.jobs.enqueue("ops_support:write_marker", str(tmp_path / f"s{i}"), f"s{i}")
            for i in range(3)
        ]
        assert [r.get(blocking=True, timeout=45) for r in results] == ["s0", "s1", "s2"]
        wait_for(lambda: _notification_count(inst, user_id) == 1, timeout=45)
    finally:
        output = stop_process(server)
    assert output.count("runs the embedded job consumer") == 1, output


def test_serve_without_jobs_runs_no_consumer(make_instance, tmp_path):
    inst = make_instance()
    port = free_port()
    server = inst.popen("serve", "--port", str(port), "--workers", "1", "--no-jobs")
    try:
        marker = tmp_path / "never"
        inst.crm.jobs.enqueue("ops_support:write_marker", str(marker))
        wait_for(lambda: "Booting worker" in (server.stdout.readline() or ""), timeout=45)
        import time

        time.sleep(1.0)
        assert not marker.exists()
        assert inst.crm.jobs.pending_count() == 1
    finally:
        stop_process(server)


# notifications API ------------------------------------------------------------------------------


def test_notifications_api_own_only_and_mark_read(crm, session, make_user, api_as):
    from crmcore.notifications import notify

    ana, bob = make_user(), make_user()
    for i in range(3):
        notify(session, ana.id, "test", f"For Ana {i}", link=("contacts", i + 1))
    theirs = notify(session, bob.id, "test", "For Bob")
    session.commit()
    as_ana = api_as(ana)

    page = as_ana.get("/api/v1/notifications?limit=2")
    assert page.status_code == 200
    body = page.get_json()
    assert [n["title"] for n in body["data"]] == ["For Ana 2", "For Ana 1"]
    assert body["unread"] == 3 and body["next_cursor"]
    rest = as_ana.get(f"/api/v1/notifications?limit=2&cursor={body['next_cursor']}").get_json()
    assert [n["title"] for n in rest["data"]] == ["For Ana 0"] and rest["next_cursor"] is None
    assert rest["data"][0]["link_entity"] == "contacts"

    first = body["data"][0]["id"]
    marked = as_ana.post(f"/api/v1/notifications/{first}/read")
    assert marked.status_code == 200 and marked.get_json()["read_at"]
    again = as_ana.post(f"/api/v1/notifications/{first}/read")
    assert again.get_json()["read_at"] == marked.get_json()["read_at"]
    unread = as_ana.get("/api/v1/notifications?unread=1").get_json()
    assert [n["title"] for n in unread["data"]] == ["For Ana 1", "For Ana 0"]
    assert unread["unread"] == 2

    assert as_ana.post(f"/api/v1/notifications/{theirs.id}/read").status_code == 404
    assert as_ana.post("/api/v1/notifications/999999/read").status_code == 404
    assert as_ana.get("/api/v1/notifications?limit=x").status_code == 400
    bobs = api_as(bob).get("/api/v1/notifications").get_json()
    assert [n["title"] for n in bobs["data"]] == ["For Bob"]
    assert crm.app.test_client().get("/api/v1/notifications").status_code == 401


def test_notifications_in_openapi(api):
    paths = api.get("/api/v1/openapi.json").get_json()["paths"]
    assert "get" in paths["/api/v1/notifications"]
    assert "post" in paths["/api/v1/notifications/{notification_id}/read"]
