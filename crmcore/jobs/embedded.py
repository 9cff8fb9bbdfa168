"""The in-process job consumer of ``crm serve`` in the embedded set-up (no Redis).

Why in one gunicorn *worker* rather than in the master: the master forks workers at any time
(start-up, restarts after a crash or ``--max-requests``); forking a process whose other threads
hold locks (logging, SQLite, Huey's storage lock) can leave the child deadlocked, and the master
is meant to stay tiny. So each worker, after it started (``post_worker_init``), tries to take an
exclusive ``flock`` on ``<instance>/jobs.lock``; the one that gets it runs the consumer threads
for as long as it lives. When that worker exits, the kernel releases the lock and its
replacement takes it over, so exactly one embedded consumer runs per instance and host - even
with several ``crm serve`` processes on the same instance folder. ``worker_exit`` stops the
consumer gracefully. On Windows (waitress, one process) the consumer simply runs in threads of
the serving process.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from huey.consumer import Consumer

log = logging.getLogger(__name__)


class ThreadConsumer(Consumer):  # type: ignore[misc]
    """Huey's consumer started from a host process: worker and scheduler threads only.

    It leaves signal handling to the host (gunicorn, waitress, a test) and needs no main loop.
    """

    recovery: Any = None

    def _set_signal_handlers(self) -> None:
        """The host process owns the signals."""

    def stop(self, graceful: bool = False) -> None:
        """Stop the threads, then the heartbeat of :mod:`crmcore.jobs.recovery`."""
        super().stop(graceful=graceful)
        if self.recovery is not None:
            self.recovery.stop_heartbeat()


def start_embedded(app: Any, workers: int = 1, **options: Any) -> ThreadConsumer:
    """Start an in-process consumer for ``app``; call ``.stop(graceful=True)`` to end it."""
    jobs = app.extensions["crm"].jobs
    options.setdefault("max_delay", 2.0)
    options.setdefault("shutdown_timeout", 10.0)
    consumer = ThreadConsumer(jobs.huey, workers=workers, worker_type="thread", **options)
    jobs.start_tracking()
    consumer.recovery = jobs.recovery
    consumer.start()
    log.info(
        "embedded job consumer started (%s storage, %d worker thread(s))", jobs.storage, workers
    )
    return consumer


def try_lock(path: Path) -> int | None:
    """Take an exclusive non-blocking lock on ``path``; the open descriptor, or ``None``."""
    import fcntl

    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def gunicorn_hooks(app: Any) -> dict[str, Any]:
    """``post_worker_init`` and ``worker_exit`` settings running one embedded consumer."""
    state: dict[str, Any] = {}
    lock_path = app.extensions["crm"].settings.instance_path / "jobs.lock"

    def post_worker_init(worker: Any) -> None:
        fd = try_lock(lock_path)
        if fd is None:
            return
        state["fd"] = fd
        crm = app.extensions["crm"]
        crm.jobs.close()  # never reuse a storage connection opened before the fork
        state["consumer"] = start_embedded(app)
        worker.log.info("worker %s runs the embedded job consumer", os.getpid())

    def worker_exit(_server: Any, _worker: Any) -> None:
        consumer = state.pop("consumer", None)
        if consumer is not None:
            consumer.stop(graceful=True)
        fd = state.pop("fd", None)
        if fd is not None:
            os.close(fd)

    return {"post_worker_init": post_worker_init, "worker_exit": worker_exit}
