"""The import wizard: upload a CSV file, map its columns with a preview, follow the job.

``/import`` upload (entity, file, what to do with duplicates) -> ``/import/upload/<token>``
column mapping, pre-filled by the core import's header matching, with the first rows ->
``POST`` start: a ``core_import`` row is created and ``crmcore.importing:run_import`` is queued
(``crm.jobs``) -> ``/import/<id>`` progress, polled by htmx every second, with the report of
rejected rows to download. The uploaded file waits under the instance folder; which uploads
belong to whom is kept in the signed session, so nobody can map another user's file.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    abort,
    flash,
    g,
    redirect,
    render_template,
    request,
    send_file,
    session,
    url_for,
)
from flask_babel import gettext as _
from werkzeug.utils import secure_filename

from ..app import current_crm
from ..errors import NotFound, PermissionDenied
from ..importing import ON_DUPLICATE, ImportFileError, ImportJob, check_allowed, import_limit
from ..importing.mapping import COMPANY, CUSTOM, FieldSet, map_columns
from ..importing.reading import CsvFormat, inspect_file, iter_rows
from ..records import RecordService
from ..registry import Entity
from .i18n import label

PREVIEW_ROWS = 5
#: Uploads waiting for their mapping that one session remembers.
MAX_PENDING = 10
_SESSION_KEY = "crm_import_uploads"
_COPY_CHUNK = 1024 * 1024
_TOKEN_LENGTH = 32


def service() -> RecordService:
    return current_crm().records(g.crm_access)


def importable(records: RecordService) -> list[Entity]:
    """Entities the user may import into: ``data.import`` and create access."""
    if not records.access.has("data.import"):
        return []
    return [
        e
        for e in current_crm().entities()
        if e.api_create and records.access.can(e, "create") and e.name != "user"
    ]


def _require_import(records: RecordService) -> None:
    if not records.access.has("data.import"):
        raise PermissionDenied(_("You may not import data."))


def fieldset(records: RecordService, entity: Entity) -> FieldSet:
    crm = current_crm()
    has_companies = any(e.name == "company" for e in crm.entities()) and records.access.can(
        "companies", "read"
    )
    return FieldSet.of(entity, crm.custom_field_defs(records.session, entity), has_companies)


def target_label(target: str, fields: FieldSet) -> str:
    """How a mapping target reads in the select: a field label, a custom field, a company."""
    if target == COMPANY:
        return _("Company (found or created by name)")
    if target.startswith(CUSTOM):
        return fields.custom.get(target[len(CUSTOM) :], target)
    return label(target)


# uploads kept between the steps -----------------------------------------------------------------


def _uploads() -> dict[str, dict[str, Any]]:
    return dict(session.get(_SESSION_KEY) or {})


def _remember(token: str, info: dict[str, Any]) -> None:
    uploads = _uploads()
    uploads[token] = info
    if len(uploads) > MAX_PENDING:
        oldest = next(iter(uploads))
        _forget_file(uploads.pop(oldest))
    session[_SESSION_KEY] = uploads


def _upload(token: str) -> dict[str, Any]:
    info = _uploads().get(token) if len(token) == _TOKEN_LENGTH else None
    if info is None or info.get("user_id") != g.crm_access.user_id:
        raise NotFound(_("This upload is gone; upload the file again."))
    return info


def _forget(token: str) -> None:
    uploads = _uploads()
    uploads.pop(token, None)
    session[_SESSION_KEY] = uploads


def _forget_file(info: dict[str, Any]) -> None:
    path = Path(info.get("path", ""))
    if path.is_file():
        path.unlink()
        try:
            path.parent.rmdir()
        except OSError:
            pass


def _save(upload: Any, limit: int) -> Path:
    """Store the upload under ``<instance>/imports/<random>/upload.csv``, refusing big files."""
    folder = current_crm().settings.instance_path / "imports" / secrets.token_hex(8)
    folder.mkdir(parents=True)
    target = folder / "upload.csv"
    size = 0
    with open(target, "wb") as out:
        while chunk := upload.stream.read(_COPY_CHUNK):
            size += len(chunk)
            if size > limit:
                break
            out.write(chunk)
    if size > limit:
        target.unlink()
        folder.rmdir()
        raise ImportFileError(
            _("The file is larger than the import limit of %(mb).1f MB.", mb=limit / 1024 / 1024)
        )
    return target


def _preview(path: Path, fmt: CsvFormat) -> list[list[str]]:
    rows = []
    for _line, cells in iter_rows(path, fmt):
        rows.append([c[:200] for c in cells])
        if len(rows) >= PREVIEW_ROWS:
            break
    return rows


def _job(import_id: int) -> ImportJob:
    """The import if the user started it or administers the instance; otherwise 404."""
    access = g.crm_access
    job = current_crm().session.get(ImportJob, import_id)
    if job is None or not ("*" in access.permissions or job.user_id == access.user_id):
        raise NotFound(_("No such import."))
    return job


def progress_of(job: ImportJob) -> dict[str, Any]:
    total = job.total_rows or 0
    done = min(job.processed_rows or 0, total) if total else 0
    return {
        "job": job,
        "finished": job.status in ("done", "failed"),
        "percent": int(done * 100 / total) if total else (100 if job.status == "done" else 0),
        "done": done,
        "total": total,
        "entity": _entity_or_none(job.entity),
    }


def _entity_or_none(name: str) -> Entity | None:
    try:
        return service().entity(name)
    except NotFound:
        return None


# pages ------------------------------------------------------------------------------------------


def make_blueprint() -> Blueprint:
    bp = Blueprint("web_import", __name__, url_prefix="/import")

    @bp.route("", methods=["GET", "POST"])
    def start() -> Any:
        records = service()
        _require_import(records)
        entities = importable(records)
        chosen = request.values.get("entity", "")
        error = None
        if request.method == "POST":
            upload = request.files.get("file")
            on_duplicate = request.form.get("on_duplicate", "skip")
            try:
                entity = records.entity(chosen) if chosen else None
                if entity is None or entity not in entities:
                    raise ImportFileError(_("Choose what the file holds."))
                if on_duplicate not in ON_DUPLICATE:
                    raise ImportFileError(_("Choose what to do with duplicates."))
                check_allowed(records, entity, on_duplicate)
                if upload is None or not upload.filename:
                    raise ImportFileError(_("Choose a CSV file."))
                limit = import_limit(current_crm())
                path = _save(upload, limit)
                try:
                    inspect_file(path, limit)
                except ImportFileError:
                    _forget_file({"path": str(path)})
                    raise
            except (ImportFileError, PermissionDenied) as exc:
                error = exc.translated()
            else:
                token = secrets.token_urlsafe(24)
                _remember(
                    token,
                    {
                        "entity": entity.name,
                        "path": str(path),
                        "filename": secure_filename(upload.filename or "") or "upload.csv",
                        "on_duplicate": on_duplicate,
                        "user_id": records.access.user_id,
                    },
                )
                return redirect(url_for("web_import.mapping", token=token), 303)
        recent = list(
            records.session.scalars(
                _recent(records.access.user_id).limit(10)  # type: ignore[arg-type]
            )
        )
        return render_template(
            "core/import_upload.html",
            entities=entities,
            chosen=chosen,
            error=error,
            on_duplicate=ON_DUPLICATE,
            recent=recent,
        ), (422 if error else 200)

    @bp.route("/upload/<token>", methods=["GET", "POST"])
    def mapping(token: str) -> Any:
        records = service()
        _require_import(records)
        info = _upload(token)
        entity = records.entity(info["entity"])
        path = Path(info["path"])
        fields = fieldset(records, entity)
        try:
            fmt = inspect_file(path, import_limit(current_crm()))
        except ImportFileError as exc:
            _forget(token)
            flash(exc.translated(), "error")
            return redirect(url_for("web_import.start"), 303)
        header = list(fmt.header)
        targets = fields.targets()
        error = None
        if request.method == "POST":
            chosen = {h: (request.form.get(f"map-{i}") or None) for i, h in enumerate(header)}
            chosen = {h: t if t in targets else None for h, t in chosen.items()}
            try:
                map_columns(header, fields, chosen)
            except ImportFileError as exc:
                error = exc.translated()
            else:
                job = ImportJob(
                    entity=entity.name,
                    status="queued",
                    path=str(path),
                    user_id=records.access.user_id,
                    filename=info["filename"],
                    total_rows=fmt.rows,
                    options={
                        "mapping": chosen,
                        "on_duplicate": info["on_duplicate"],
                        "dry_run": False,
                        "source": "web",
                    },
                )
                records.session.add(job)
                records.session.commit()
                _forget(token)
                current_crm().jobs.enqueue("crmcore.importing:run_import", job.id)
                return redirect(url_for("web_import.progress", import_id=job.id), 303)
            auto = [chosen.get(h) for h in header]
        else:
            try:
                auto = map_columns(header, fields).targets
            except ImportFileError:
                auto = [None] * len(header)
        options = [(t, target_label(t, fields)) for t in targets]
        return render_template(
            "core/import_mapping.html",
            entity=entity,
            token=token,
            info=info,
            fmt=fmt,
            header=header,
            auto=auto,
            options=options,
            preview=_preview(path, fmt),
            error=error,
        ), (422 if error else 200)

    @bp.route("/upload/<token>/cancel", methods=["POST"])
    def cancel(token: str) -> Any:
        info = _upload(token)
        _forget(token)
        _forget_file(info)
        flash(_("The upload was discarded."), "success")
        return redirect(url_for("web_import.start"), 303)

    @bp.route("/<int:import_id>")
    def progress(import_id: int) -> Any:
        context = progress_of(_job(import_id))
        if request.headers.get("HX-Request"):
            return render_template("core/_import_progress.html", **context)
        return render_template("core/import_progress.html", **context)

    @bp.route("/<int:import_id>/report")
    def report(import_id: int) -> Any:
        job = _job(import_id)
        path = Path(job.report_path) if job.report_path else None
        if path is None or not path.is_file():
            abort(404)
        return send_file(
            path,
            mimetype="text/csv",
            as_attachment=True,
            download_name=f"import-{job.id}-rejected.csv",
            max_age=0,
        )

    return bp


def _recent(user_id: int | None) -> Any:
    from sqlalchemy import select

    return select(ImportJob).where(ImportJob.user_id == user_id).order_by(ImportJob.id.desc())
