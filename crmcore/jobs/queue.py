"""``Jobs``: the Huey queue of one app (never a module global).

Storage is Huey's SQLite file ``<instance>/jobs.db`` by default and Redis when ``CRM_REDIS_URL``
is set. Every enqueued job is one generic Huey task, ``crm_call``, that carries the dotted path
of a function; the consumer imports it and calls ``function(app, *args, **kwargs)`` inside an
application context, so producers and consumers need to agree only on importable functions.

Periodic jobs come from the ``crm_periodic_jobs`` hook of every *installed* plugin plus the core
jobs; whether the plugin is enabled is checked each time the job is due, so disabling a plugin
stops its jobs without restarting the consumers. Schedules are evaluated in UTC.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
from collections.abc import Callable, Mapping
from importlib import import_module
from typing import TYPE_CHECKING, Any

from ..contributions import PeriodicJob
from .recovery import STALE, Recovery

if TYPE_CHECKING:
    from flask import Flask
    from huey import Huey
    from huey.api import Result
    from huey.consumer import Consumer

log = logging.getLogger(__name__)

#: Environment variable and crm.toml key naming the queue (several instances on one Redis).
QUEUE_ENV = "CRM_JOB_QUEUE"
QUEUE_KEY = "job_queue"
DEFAULT_QUEUE = "crm"
_TARGET = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


class JobError(Exception):
    """A job cannot be enqueued (unknown function, bad options)."""


def resolve(target: str) -> Callable[..., Any]:
    """Import ``"package.module:function"`` (the attribute may be dotted: ``Class.method``)."""
    if not _TARGET.match(target):
        raise JobError(f"job target must look like 'package.module:function', not {target!r}")
    module_name, _, attr = target.partition(":")
    try:
        obj: Any = import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise JobError(f"job target {target!r} cannot be imported: {exc}") from None
    if not callable(obj):
        raise JobError(f"job target {target!r} is not callable")
    return obj  # type: ignore[no-any-return]


def target_of(func: Callable[..., Any] | str) -> str:
    """The dotted path of a module-level function (strings are returned as they are)."""
    if isinstance(func, str):
        return func
    qualname = getattr(func, "__qualname__", "")
    if "<locals>" in qualname or not qualname:
        raise JobError(f"{func!r} is not a module-level function; jobs must be importable")
    return f"{func.__module__}:{qualname}"


def _sqlite_storage() -> type[Any]:
    """Huey's SQLite storage with the main database's durability: WAL with
    ``synchronous=NORMAL``. Huey's default (``FULL``) syncs the disk on every enqueue (4-5 ms
    on the benchmark machine, most of a write that queues a job); with ``NORMAL`` a crashed
    process still loses nothing, and a power cut may roll back the last commits of both files
    alike (the automation runs and webhook deliveries behind them are queued again by their
    periodic sweeps)."""
    from huey.storage import SqliteStorage

    class Storage(SqliteStorage):
        def _create_connection(self) -> Any:
            conn = super()._create_connection()
            conn.execute("pragma synchronous=NORMAL")
            return conn

    return Storage


def core_jobs() -> list[PeriodicJob]:
    """Periodic jobs of crmcore itself."""
    from .reminders import deliver_task_reminders

    return [
        PeriodicJob("task_reminders", deliver_task_reminders, {"minute": "*"}),
        PeriodicJob("recover_jobs", recover_jobs, {"minute": "*"}),
    ]


def recover_jobs(app: Flask) -> None:
    """Queue again the jobs that consumers which stopped beating were running."""
    app.extensions["crm"].jobs.recovery.recover()


class Jobs:
    """The job queue of one app: enqueue functions, run periodic jobs, build consumers."""

    def __init__(self, app: Flask, *, queue: str | None = None) -> None:
        from huey import RedisHuey, SqliteHuey

        crm = app.extensions["crm"]
        settings = crm.settings
        self.app = app
        self.queue = (
            queue
            or os.environ.get(QUEUE_ENV)
            or str(settings.extra.get(QUEUE_KEY) or DEFAULT_QUEUE)
        )
        self.huey: Huey
        if settings.redis_url:
            self.storage = "redis"
            self.huey = RedisHuey(self.queue, url=settings.redis_url, utc=True)
        else:
            self.storage = "sqlite"
            settings.instance_path.mkdir(parents=True, exist_ok=True)
            self.huey = SqliteHuey(
                self.queue,
                filename=str(settings.instance_path / "jobs.db"),
                utc=True,
                storage_class=_sqlite_storage(),
            )
        self._call = self.huey.task(name="crm_call")(self._execute)
        self.recovery = Recovery(
            self.huey, stale=float(settings.extra.get("job_stale_seconds") or STALE)
        )
        self.periodic: dict[str, tuple[str, PeriodicJob]] = {}
        self._register_periodic(crm)

    # running ----------------------------------------------------------------------------------

    def _execute(self, target: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
        func = resolve(target)
        with self.app.app_context():
            return func(self.app, *args, **kwargs)

    def _register_periodic(self, crm: Any) -> None:
        from huey import crontab

        found = [("core", job) for job in core_jobs()]
        found += crm.plugins.collect("crm_periodic_jobs")
        for plugin, job in found:
            name = f"{plugin}.{job.name}"
            if name in self.periodic:
                raise JobError(f"plugin {plugin!r} declares the periodic job {job.name!r} twice")
            try:
                schedule = crontab(**dict(job.schedule))
            except (TypeError, ValueError) as exc:
                raise JobError(
                    f"periodic job {name!r}: bad schedule {job.schedule!r}: {exc}"
                ) from None
            self.periodic[name] = (plugin, job)
            runner = self._periodic_runner(plugin, job)
            self.huey.periodic_task(schedule, name=f"periodic.{name}")(runner)

    def _periodic_runner(self, plugin: str, job: PeriodicJob) -> Callable[[], None]:
        def run() -> None:
            self.run_periodic(f"{plugin}.{job.name}")

        return run

    def run_periodic(self, name: str) -> bool:
        """Run the periodic job ``plugin.job`` now, in this thread; ``False`` when its plugin
        is disabled (the job is then skipped)."""
        plugin, job = self.periodic[name]
        with self.app.app_context():
            crm = self.app.extensions["crm"]
            if plugin != "core" and plugin not in crm.enabled_plugins():
                log.debug("periodic job %s skipped: plugin %s is disabled", name, plugin)
                return False
            job.run(self.app)
            return True

    # producing --------------------------------------------------------------------------------

    def enqueue(
        self,
        target: str | Callable[..., Any],
        *args: Any,
        delay: float | dt.timedelta | None = None,
        eta: dt.datetime | None = None,
        retries: int = 0,
        retry_delay: float = 0,
        priority: int | None = None,
        **kwargs: Any,
    ) -> Result:
        """Queue ``target(app, *args, **kwargs)``; returns Huey's ``Result`` handle.

        :param target: ``"package.module:function"`` or a module-level function.
        :param delay: run no sooner than this many seconds (or this ``timedelta``) from now.
        :param eta: run no sooner than this moment (aware datetimes are converted to UTC).
        :param retries: how many more times to run it when it raises.
        :param retry_delay: seconds to wait before each retry.
        :param priority: higher runs first (Redis and SQLite storage both honour it).
        """
        path = target_of(target)
        resolve(path)  # fail now, not in the consumer
        if delay is not None and eta is not None:
            raise JobError("give either delay or eta, not both")
        if retries < 0 or retry_delay < 0:
            raise JobError("retries and retry_delay cannot be negative")
        when: dt.datetime | None = None
        if delay is not None:
            seconds = delay.total_seconds() if isinstance(delay, dt.timedelta) else float(delay)
            when = _utc_naive(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds))
        elif eta is not None:
            when = _utc_naive(eta if eta.tzinfo else eta.replace(tzinfo=dt.UTC))
        task = self._call.s(path, tuple(args), dict(kwargs))
        task.eta = when
        task.retries = retries
        task.retry_delay = retry_delay
        task.priority = priority
        return self.huey.enqueue(task)  # type: ignore[no-any-return]

    def pending_count(self) -> int:
        """Jobs waiting in the queue (scheduled ones not included)."""
        return int(self.huey.pending_count())

    # consuming --------------------------------------------------------------------------------

    def consumer(self, workers: int = 1, *, periodic: bool = True, **options: Any) -> Consumer:
        """A Huey consumer with ``workers`` threads; ``options`` go to Huey's ``Consumer``."""
        if workers < 1:
            raise JobError("a consumer needs at least one worker")
        options.setdefault("max_delay", 2.0)
        self.start_tracking()
        return self.huey.create_consumer(
            workers=workers, worker_type="thread", periodic=periodic, **options
        )

    def start_tracking(self) -> None:
        """Called where jobs are consumed: beat, track running jobs, and queue again those of
        consumers that died (see :mod:`crmcore.jobs.recovery`)."""
        self.recovery.start_heartbeat()
        found = self.recovery.recover()
        if found:
            log.warning("%d job(s) of stopped consumers queued again", found)

    def close(self) -> None:
        """Close the storage connection (before forking, and when the app is done)."""
        self.huey.storage.close()


def _utc_naive(moment: dt.datetime) -> dt.datetime:
    # Huey with utc=True compares naive UTC datetimes
    return moment.astimezone(dt.UTC).replace(tzinfo=None)
