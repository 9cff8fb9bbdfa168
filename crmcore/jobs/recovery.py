"""Jobs a dead worker was running go back on the queue.

Huey takes a task off the queue before it runs it, so a consumer killed with ``kill -9`` (or
by the out-of-memory killer, or a lost machine) would lose the job it was running. Every
consumer process therefore keeps two kinds of entries in Huey's own key-value store (the same
SQLite file or Redis as the queue, so every consumer of the instance sees them):

- ``crm.alive:<process>``: a heartbeat, the time, refreshed every ``HEARTBEAT`` seconds by a
  thread of the consumer process;
- ``crm.running:<task id>``: the process running the task and the task as Huey serializes it,
  written when the task starts and removed when it ends in any way (done, failed, retried,
  cancelled).

:func:`recover` (run when a consumer starts and every minute by the core's periodic job) puts
back on the queue every running task whose process has not beaten for ``STALE`` seconds, and
forgets that process. A task interrupted by a graceful stop (SIGTERM, Ctrl-C) is put back at
once. Periodic jobs are not tracked: they run again when next due.

So a job runs *at least once*: one interrupted half-way runs again from the start. Jobs are
written to be idempotent (the import marks an interrupted import as failed instead of importing
its rows twice; campaign sending keeps per-recipient state).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

from huey import signals as S
from huey.api import PeriodicTask
from huey.constants import EmptyData

if TYPE_CHECKING:
    from huey import Huey

log = logging.getLogger(__name__)

RUNNING = "crm.running:"
ALIVE = "crm.alive:"
#: Seconds between two heartbeats of a consumer process.
HEARTBEAT = 10.0
#: Seconds without a heartbeat after which a process counts as dead (``job_stale_seconds`` in
#: crm.toml).
STALE = 60.0

_ENDED = (
    S.SIGNAL_COMPLETE,
    S.SIGNAL_ERROR,
    S.SIGNAL_CANCELED,
    S.SIGNAL_LOCKED,
    S.SIGNAL_TIMEOUT,
    S.SIGNAL_RATE_LIMITED,
    S.SIGNAL_RETRYING,
    S.SIGNAL_REVOKED,
    S.SIGNAL_EXPIRED,
)


class Recovery:
    """The running-task bookkeeping of one Huey instance (one per :class:`~.queue.Jobs`)."""

    def __init__(self, huey: Huey, *, stale: float = STALE) -> None:
        self.huey = huey
        self.stale = stale
        self.process = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._beating: threading.Event | None = None
        huey.signal(S.SIGNAL_EXECUTING)(self._started)
        huey.signal(*_ENDED)(self._ended)
        huey.signal(S.SIGNAL_INTERRUPTED)(self._interrupted)

    # the consumer process --------------------------------------------------------------------

    def start_heartbeat(self) -> None:
        """Beat from a daemon thread until :meth:`stop_heartbeat`; tasks are tracked only in
        a process that beats (so that a dead one can be told from a slow one)."""
        if self._beating is not None:
            return
        if os.getpid() != int(self.process.split(":")[1]):  # forked since: a new identity
            self.process = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        stop = threading.Event()
        self._beating = stop
        self._beat()
        thread = threading.Thread(target=self._beat_until, args=(stop,), daemon=True,
                                  name="crm-jobs-heartbeat")  # fmt: skip
        thread.start()

    def stop_heartbeat(self) -> None:
        """Stop beating and forget this process (its tasks have ended or were put back)."""
        if self._beating is None:
            return
        self._beating.set()
        self._beating = None
        self.huey.storage.pop_data(ALIVE + self.process)

    def _beat(self) -> None:
        self.huey.storage.put_data(ALIVE + self.process, repr(time.time()).encode())

    def _beat_until(self, stop: threading.Event) -> None:
        while not stop.wait(HEARTBEAT):
            try:
                self._beat()
            except Exception:  # a storage hiccup must not end the heartbeat
                log.warning("job heartbeat failed", exc_info=True)

    # signals ---------------------------------------------------------------------------------

    def _started(self, _signal: str, task: Any) -> None:
        if self._beating is None or isinstance(task, PeriodicTask):
            return
        entry = self.process.encode() + b"\n" + self.huey.serialize_task(task)
        self.huey.storage.put_data(RUNNING + task.id, entry)

    def _ended(self, _signal: str, task: Any, *_args: Any) -> None:
        if self._beating is not None and not isinstance(task, PeriodicTask):
            self.huey.storage.pop_data(RUNNING + task.id)

    def _interrupted(self, _signal: str, task: Any) -> None:
        if self._beating is None or isinstance(task, PeriodicTask):
            return
        if self.huey.storage.pop_data(RUNNING + task.id) is not EmptyData:
            log.warning("job %s interrupted by a stop; queued again", task.id)
            self.huey.enqueue(task)

    # the sweep -------------------------------------------------------------------------------

    def recover(self) -> int:
        """Queue again the tasks of processes silent for ``self.stale`` seconds; how many."""
        storage = self.huey.storage
        items = storage.result_items()
        now = time.time()
        alive: dict[str, float] = {}
        for key, value in items.items():
            if key.startswith(ALIVE):
                try:
                    alive[key[len(ALIVE) :]] = float(bytes(value))
                except ValueError:
                    alive[key[len(ALIVE) :]] = 0.0
        dead = {process for process, beat in alive.items() if now - beat > self.stale}
        queued = 0
        for key in items:
            if not key.startswith(RUNNING):
                continue
            name, newline, data = bytes(items[key]).partition(b"\n")
            if not newline:
                storage.pop_data(key)
                continue
            process = name.decode(errors="replace")
            if process == self.process and self._beating is not None:
                continue
            if process in alive and process not in dead:
                continue
            raw = storage.pop_data(key)  # whoever pops it first queues it, once
            if raw is EmptyData:
                continue
            try:
                task = self.huey.deserialize_task(data)
            except Exception:  # written by another version of a job's code: cannot run it
                log.exception("job entry %s cannot be read; dropped", key)
                continue
            log.warning("job %s was running in %s, which stopped; queued again", task.id,
                        process)  # fmt: skip
            self.huey.enqueue(task)
            queued += 1
        for process in dead:
            storage.pop_data(ALIVE + process)
        return queued
