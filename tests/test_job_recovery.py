"""A job whose consumer dies is queued again (``crmcore.jobs.recovery``): at least once.

Real consumers: Huey's in threads of this process and ``crm worker`` killed with SIGKILL, on
Huey's SQLite storage and on Redis.
"""

import os
import signal
import time

import pytest
from ops_support import make_instance, stop_process, wait_for
from test_jobs import REDIS_URL, needs_redis

from crmcore.importing.models import ImportJob
from crmcore.jobs.embedded import start_embedded
from crmcore.jobs.recovery import ALIVE, RUNNING

__all__ = ["make_instance"]


def _keys(jobs, prefix):
    return [key for key in jobs.huey.storage.result_items() if key.startswith(prefix)]


def test_a_finished_job_leaves_no_running_entry(make_instance, tmp_path):
    inst = make_instance()
    jobs = inst.crm.jobs
    result = jobs.enqueue("ops_support:slow_once", str(tmp_path / "m"), 0.5)
    consumer = start_embedded(inst.app, workers=1, periodic=False)
    try:
        wait_for(lambda: _keys(jobs, RUNNING), timeout=10)  # tracked while it runs
        assert result.get(blocking=True, timeout=10) == "done"
        wait_for(lambda: not _keys(jobs, RUNNING), timeout=5)
        assert _keys(jobs, ALIVE)  # the consumer's heartbeat
    finally:
        consumer.stop(graceful=True)
    assert not _keys(jobs, ALIVE)  # a stopped consumer stops beating


def test_recover_queues_only_the_jobs_of_silent_processes(make_instance, tmp_path):
    inst = make_instance()
    jobs = inst.crm.jobs
    huey = jobs.huey
    task = jobs._call.s("ops_support:write_marker", (str(tmp_path / "dead"),), {"value": "again"})
    alive = jobs._call.s("ops_support:write_marker", (str(tmp_path / "alive"),), {})
    now = time.time()
    huey.storage.put_data(ALIVE + "host:1:dead", repr(now - 3600).encode())
    huey.storage.put_data(ALIVE + "host:2:alive", repr(now).encode())
    huey.storage.put_data(RUNNING + task.id, b"host:1:dead\n" + huey.serialize_task(task))
    huey.storage.put_data(RUNNING + alive.id, b"host:2:alive\n" + huey.serialize_task(alive))
    assert jobs.pending_count() == 0
    assert jobs.recovery.recover() == 1
    assert jobs.recovery.recover() == 0  # popped once: never queued twice
    assert jobs.pending_count() == 1
    assert _keys(jobs, RUNNING) == [RUNNING + alive.id]
    assert _keys(jobs, ALIVE) == [ALIVE + "host:2:alive"]  # the dead process is forgotten
    consumer = start_embedded(inst.app, workers=1, periodic=False)
    try:
        wait_for(lambda: (tmp_path / "dead").exists(), timeout=10)
    finally:
        consumer.stop(graceful=True)
    assert (tmp_path / "dead").read_text().startswith("again")


def test_a_garbled_entry_is_dropped(make_instance):
    inst = make_instance()
    jobs = inst.crm.jobs
    jobs.huey.storage.put_data(RUNNING + "x", b"no process line")
    assert jobs.recovery.recover() == 0
    assert not _keys(jobs, RUNNING)


@pytest.mark.parametrize("storage", ["sqlite", pytest.param("redis", marks=needs_redis)])
def test_job_of_a_killed_worker_runs_again_in_the_next(make_instance, tmp_path, storage):
    inst = make_instance(redis_url=REDIS_URL if storage == "redis" else None)
    with (inst.path / "crm.toml").open("a") as fh:
        fh.write("job_stale_seconds = 2\n")
    marker = tmp_path / "slow"
    inst.crm.jobs.enqueue("ops_support:slow_once", str(marker), 120)
    first = inst.popen("worker", "--workers", "1", "--no-periodic")
    try:
        wait_for(lambda: marker.exists() and marker.read_text() == "start\n", timeout=45)
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.communicate(timeout=15)
    assert marker.read_text() == "start\n"  # lost with its worker, as Huey alone would
    time.sleep(2.5)  # its heartbeat goes stale
    second = inst.popen("worker", "--workers", "1", "--no-periodic")
    try:
        wait_for(lambda: marker.read_text().endswith("done\n"), timeout=45)
    finally:
        output = stop_process(second)
    assert marker.read_text() == "start\nstart\ndone\n"
    assert "queued again" in output, output


def test_an_import_queued_again_after_its_worker_died_ends_as_failed(app, crm, make_user):
    from crmcore.importing import run_import

    user = make_user("sales_rep")
    job = ImportJob(entity="contacts", user_id=user.id, path="/nonexistent/file.csv",
                    status="running", total_rows=100, processed_rows=40, options={})  # fmt: skip
    crm.session.add(job)
    crm.session.commit()
    run_import(app, job.id)
    crm.session.expire_all()
    assert job.status == "failed"
    assert "40 of 100" in job.error
    job.status = "done"
    job.error = None
    crm.session.commit()
    run_import(app, job.id)  # done: left alone
    crm.session.expire_all()
    assert job.status == "done" and job.error is None
