"""Import and export over the API.

* ``POST /api/v1/imports`` (multipart: ``entity``, ``file``, optional ``mapping`` JSON,
  ``on_duplicate``, ``dry_run``) stores the upload under the instance, creates a
  ``core_import`` row and queues a job running it (``crmcore.importing.run_import``);
  ``GET /api/v1/imports/<id>`` shows progress and totals;
  ``GET /api/v1/imports/<id>/report`` downloads the rejected rows.
* ``GET /api/v1/<plural>/export?format=csv|json`` streams every record the caller may read.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from flask import Response, g, request, send_file, stream_with_context, url_for
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields
from werkzeug.datastructures import MultiDict
from werkzeug.utils import secure_filename

from ..app import current_crm
from ..audit import record_export
from ..errors import NotFound, ValidationError
from ..exporting import FORMATS, export_chunks
from ..importing import (
    ON_DUPLICATE,
    REPORT_NAME,
    ImportFileError,
    ImportJob,
    check_allowed,
    import_limit,
    parse_mapping,
)
from ..permissions import Access
from . import listing
from .openapi import error_responses
from .resources import ERROR_RESPONSES, records

_COPY_CHUNK = 1024 * 1024
_TRUE = ("1", "true", "yes", "on")


class ImportSchema(Schema):
    id = fields.Integer()
    entity = fields.String()
    status = fields.String(metadata={"description": "queued, running, done or failed"})
    filename = fields.String()
    user_id = fields.Integer(allow_none=True)
    total_rows = fields.Integer()
    processed_rows = fields.Integer()
    created = fields.Integer()
    updated = fields.Integer()
    skipped = fields.Integer()
    rejected = fields.Integer()
    possible_duplicates = fields.Integer(
        metadata={"description": "Rows created that may duplicate an existing record."}
    )
    duplicates = fields.List(
        fields.Dict(),
        allow_none=True,
        metadata={
            "description": "The first 200 of them: line, record_id and duplicates "
            "(id, title, score, reasons)."
        },
    )
    error = fields.String(allow_none=True)
    options = fields.Dict()
    created_at = fields.AwareDateTime()
    started_at = fields.AwareDateTime(allow_none=True)
    finished_at = fields.AwareDateTime(allow_none=True)
    report_url = fields.Method("_report_url", allow_none=True)

    def _report_url(self, job: ImportJob) -> str | None:
        if not job.report_path:
            return None
        return url_for("api_imports.report", import_id=job.id)


_UPLOAD_DOC = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["entity", "file"],
                "properties": {
                    "entity": {
                        "type": "string",
                        "description": "Entity name or plural, e.g. contacts",
                    },
                    "file": {"type": "string", "format": "binary", "description": "The CSV file"},
                    "mapping": {
                        "type": "string",
                        "description": 'JSON {"Column": "field" or null}',
                    },
                    "on_duplicate": {"type": "string", "enum": list(ON_DUPLICATE)},
                    "dry_run": {"type": "boolean"},
                },
            }
        }
    },
}


def make_imports_blueprint() -> Blueprint:
    blp = Blueprint(
        "api_imports",
        __name__,
        url_prefix="/api/v1/imports",
        description="CSV imports: upload, progress, rejected rows",
    )

    @blp.route("")
    class Imports(MethodView):
        @blp.doc(
            requestBody=_UPLOAD_DOC,
            responses={**ERROR_RESPONSES, **error_responses(404)},  # an unknown entity
            summary="Upload a CSV file and import it",
        )
        @blp.response(202, ImportSchema)
        def post(self) -> Any:
            job_id = _create_job()
            current_crm().jobs.enqueue("crmcore.importing:run_import", job_id)
            session = current_crm().session
            job = session.get(ImportJob, job_id)
            session.refresh(job)
            response = current_crm().app.json.response(ImportSchema().dump(job))
            response.status_code = 202
            response.headers["Location"] = url_for("api_imports.Import", import_id=job_id)
            return response

    @blp.route("/<int:import_id>")
    class Import(MethodView):
        @blp.doc(responses=ERROR_RESPONSES, summary="Progress and totals of an import")
        @blp.response(200, ImportSchema)
        def get(self, import_id: int) -> Any:
            return _visible_job(import_id)

    @blp.route("/<int:import_id>/report", endpoint="report")
    @blp.doc(
        summary="The rejected rows (CSV: line, reason, then the row)",
        responses={
            **ERROR_RESPONSES,
            200: {"description": "CSV", "content": {"text/csv": {"schema": {"type": "string"}}}},
        },
    )
    def report(import_id: int) -> Any:
        job = _visible_job(import_id)
        path = Path(job.report_path) if job.report_path else None
        if path is None or not path.is_file():
            raise NotFound("This import has no rejected rows.")
        return send_file(
            path,
            mimetype="text/csv",
            as_attachment=True,
            download_name=f"import-{job.id}-rejected.csv",
            max_age=0,
        )

    return blp


def _create_job() -> int:
    crm = current_crm()
    service = records()
    form = request.form
    errors: dict[str, list[str]] = {}
    upload = request.files.get("file")
    if not form.get("entity"):
        errors["entity"] = ["Missing data for required field."]
    if upload is None:
        errors["file"] = ["Send the CSV file as the multipart field 'file'."]
    on_duplicate = form.get("on_duplicate") or "skip"
    if on_duplicate not in ON_DUPLICATE:
        errors["on_duplicate"] = [f"Must be one of: {', '.join(ON_DUPLICATE)}."]
    mapping = None
    if form.get("mapping"):
        try:
            mapping = parse_mapping(form["mapping"])
        except ImportFileError as exc:
            errors["mapping"] = [str(exc)]
    if errors:
        raise ValidationError(errors)
    entity = service.entity(form["entity"])
    check_allowed(service, entity, on_duplicate)
    folder = crm.settings.instance_path / "imports" / secrets.token_hex(8)
    folder.mkdir(parents=True)
    stored = folder / "upload.csv"
    _save_upload(upload, stored, import_limit(crm))
    job = ImportJob(
        entity=entity.name,
        status="queued",
        path=str(stored),
        user_id=service.access.user_id,
        filename=secure_filename(upload.filename or "") or "upload.csv",
        options={
            "mapping": mapping,
            "on_duplicate": on_duplicate,
            "dry_run": form.get("dry_run", "").lower() in _TRUE,
            "source": "api",
        },
    )
    crm.session.add(job)
    crm.session.commit()
    return job.id


def _save_upload(upload: Any, target: Path, limit: int) -> None:
    size = 0
    with open(target, "wb") as out:
        while chunk := upload.stream.read(_COPY_CHUNK):
            size += len(chunk)
            if size > limit:
                out.close()
                target.unlink()
                target.parent.rmdir()
                raise ImportFileError(
                    f"the file is larger than the import limit of {limit / 1024 / 1024:.1f} MB"
                )
            out.write(chunk)


def _is_admin(access: Access) -> bool:
    return access.is_system or "*" in access.permissions


def _visible_job(import_id: int) -> ImportJob:
    """The import if the caller started it or is an administrator; otherwise 404."""
    access: Access = g.crm_access
    job = current_crm().session.get(ImportJob, import_id)
    if job is None or not (_is_admin(access) or job.user_id == access.user_id):
        raise NotFound(f"No import with id {import_id}.")
    return job


def make_export_blueprint() -> Blueprint:
    blp = Blueprint(
        "api_export", __name__, url_prefix="/api/v1", description="Streaming export of any entity"
    )

    @blp.route("/<plural>/export")
    @blp.doc(
        summary="Export the records you may read (needs data.export); the list's filters, "
        "q and sort apply",
        parameters=[
            {"in": "query", "name": "format", "schema": {"type": "string", "enum": list(FORMATS)}},
            {"in": "query", "name": "sort", "schema": {"type": "string"}},
            {"in": "query", "name": "q", "schema": {"type": "string"}},
        ],
        responses={
            **ERROR_RESPONSES,
            200: {
                "description": "The records",
                "content": {
                    "text/csv": {"schema": {"type": "string"}},
                    "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
                },
            },
        },
    )
    def export(plural: str) -> Any:
        service = records()
        entity = service.entity(plural)
        if entity.plural != plural:
            raise NotFound(f"No entity called {plural!r}.")
        fmt = request.args.get("format", "csv")
        if fmt not in FORMATS:
            raise ValidationError({"format": [f"Must be one of: {', '.join(FORMATS)}."]})
        # the list's filters, search and sort (the list language of GET /api/v1/<plural>)
        crm = current_crm()
        args = MultiDict(
            (k, v) for k, v in request.args.items(multi=True) if k not in listing.NOT_FOR_EXPORT
        )
        params = listing.parse(
            entity,
            args,
            crm.settings.secret_key,
            lambda: crm.custom_field_defs(service.session, entity),
        )
        chunks = export_chunks(
            service,
            entity,
            fmt,
            narrow=lambda stmt: listing.narrow(crm, entity, stmt, params),
            # no sort asked for: by id, as always (the list's default is -updated_at)
            order=listing.export_order(entity, params) if "sort" in args else None,
        )
        record_export(service.session, entity.name, service.access.user_id, fmt=fmt,
                      query=request.query_string.decode("utf-8", "replace"), via="api")  # fmt: skip
        mimetype = "text/csv" if fmt == "csv" else "application/json"
        name = f"{entity.plural}.{fmt}"
        return Response(
            stream_with_context(chunks),
            mimetype=mimetype,
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    return blp


__all__ = ["REPORT_NAME", "make_export_blueprint", "make_imports_blueprint"]
