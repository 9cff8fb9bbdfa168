"""CSV import for every registered entity: ``crm import``, ``POST /api/v1/imports``.

``import_file`` runs an import in the caller's process; ``run_import(app, import_id)`` runs a
queued ``core_import`` row (an API upload) and is what a background job calls.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..db import utcnow
from ..errors import CRMError, NotFound
from ..permissions import Access
from .engine import (
    DEFAULT_BATCH,
    ON_DUPLICATE,
    Importer,
    ImportOptions,
    ImportResult,
    check_allowed,
    import_limit,
)
from .mapping import load_mapping, parse_mapping
from .models import ImportedRow, ImportJob
from .reading import ImportFileError

log = logging.getLogger(__name__)

REPORT_NAME = "rejected.csv"


def import_file(
    crm: Any,
    access: Access,
    path: Path,
    options: ImportOptions,
    job: ImportJob | None = None,
    progress: Callable[[int], None] | None = None,
) -> ImportResult:
    """Import ``path`` as the user of ``access``; raises ``CRMError`` when the file cannot be
    imported at all (then nothing is written)."""
    if options.max_bytes is None:
        options.max_bytes = import_limit(crm)
    return Importer(crm.records(access), path, options, job=job, progress=progress).run()


def run_import(app: Any, import_id: int) -> None:
    """Run the queued import ``import_id`` in its own application context and session.

    The import runs as the user who created it (their permission scope applies). Failures end
    in ``status == "failed"`` with the reason in ``error``; nothing is raised, so a job queue
    can call this directly.
    """
    with app.app_context():
        crm = app.extensions["crm"]
        session = crm.session
        job = session.get(ImportJob, import_id)
        if job is None:
            raise NotFound(f"No import with id {import_id}.")
        if job.status != "queued":
            # queued again after its consumer died (crmcore.jobs.recovery): importing the file
            # again could create its first rows twice, so the import ends as failed instead
            if job.status == "running":
                job.status = "failed"
                job.error = (
                    f"Interrupted after {job.processed_rows} of {job.total_rows} rows when its "
                    "worker stopped; import the rest of the file again."
                )
                job.finished_at = utcnow()
                session.commit()
            return
        try:
            access = _access_of(crm, job)
            opts = job.options or {}
            options = ImportOptions(
                entity=job.entity,
                mapping=opts.get("mapping"),
                on_duplicate=opts.get("on_duplicate", "skip"),
                dry_run=bool(opts.get("dry_run")),
                batch_size=int(opts.get("batch_size") or DEFAULT_BATCH),
                max_bytes=import_limit(crm),
                report_path=Path(job.path).parent / REPORT_NAME,
            )
            import_file(crm, access, Path(job.path), options, job=job)
        except Exception as exc:
            if not isinstance(exc, CRMError):
                log.exception("import %s failed", import_id)
            session.rollback()
            job = session.get(ImportJob, import_id)
            job.status = "failed"
            job.error = str(exc) if isinstance(exc, CRMError) else "Unexpected error; see the log."
            job.finished_at = utcnow()
            session.commit()


def _access_of(crm: Any, job: ImportJob) -> Access:
    if job.user_id is None:
        return Access.system()
    from ..users.models import User

    user = crm.session.get(User, job.user_id)
    if user is None or not user.active or user.deleted_at is not None:
        raise CRMError("The user who started the import no longer exists or is inactive.")
    return Access.for_user(user)


__all__ = [
    "ON_DUPLICATE",
    "ImportFileError",
    "ImportJob",
    "ImportOptions",
    "ImportResult",
    "ImportedRow",
    "check_allowed",
    "import_file",
    "import_limit",
    "load_mapping",
    "parse_mapping",
    "run_import",
]
