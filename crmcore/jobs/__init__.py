"""Background jobs on Huey: ``crm.jobs.enqueue("package.module:function", *args)``.

See :mod:`crmcore.jobs.queue` for the queue, :mod:`crmcore.jobs.embedded` for the consumer that
``crm serve`` runs in-process, and :mod:`crmcore.jobs.reminders` for the task-reminder job.
"""

from .queue import JobError, Jobs, resolve, target_of

__all__ = ["JobError", "Jobs", "resolve", "target_of"]
