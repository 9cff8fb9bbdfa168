"""File attachments on any record: upload, and download as a file (never rendered inline)."""

from __future__ import annotations

import hashlib
import mimetypes
import secrets
from pathlib import Path
from typing import Any

from flask import g, request, send_file
from flask_smorest import Blueprint

from ..app import current_crm
from ..errors import BadRequest, PermissionDenied, ValidationError
from .resources import ERROR_RESPONSES

#: File types accepted; anything else is refused with 415.
ALLOWED_EXTENSIONS = frozenset(
    {
        "pdf",
        "txt",
        "csv",
        "md",
        "rtf",
        "odt",
        "ods",
        "odp",
        "doc",
        "docx",
        "xls",
        "xlsx",
        "ppt",
        "pptx",
        "png",
        "jpg",
        "jpeg",
        "gif",
        "webp",
        "heic",
        "zip",
        "eml",
        "msg",
        "ics",
        "vcf",
        "json",
        "xml",
        "mp3",
        "m4a",
        "wav",
        "mp4",
        "mov",
    }
)
CHUNK = 1024 * 1024


def safe_filename(name: str) -> str:
    """A display name without path parts or control characters."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(c for c in base if c.isprintable() and c not in '"<>|:*?').strip(". ")
    return cleaned[:200] or "file"


def store(
    crm: Any,
    service: Any,
    entity_name: str,
    record_id: int,
    upload: Any,
    *,
    any_type: bool = False,
) -> Any:
    """Store ``upload`` (``.filename``, ``.stream``) as an attachment of the record.

    ``any_type`` keeps files whose type is not in ``ALLOWED_EXTENSIONS`` (say, attachments of
    received e-mail, which must not be lost): they are served as downloads like every file.
    """
    filename = safe_filename(upload.filename or "")
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if extension not in ALLOWED_EXTENSIONS and not any_type:
        raise BadRequest(f"Files of type .{extension or '?'} are not accepted.", 415)
    stored_name = secrets.token_hex(16)
    folder: Path = crm.settings.attachments_path / stored_name[:2]
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / stored_name
    digest, size = hashlib.sha256(), 0
    with open(target, "wb") as out:
        while chunk := upload.stream.read(CHUNK):
            size += len(chunk)
            digest.update(chunk)
            out.write(chunk)
    if size == 0:
        target.unlink(missing_ok=True)
        raise ValidationError({"file": ["The file is empty."]})
    content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    try:
        return service.create(
            "attachments",
            {"record_type": entity_name, "record_id": record_id},
            internal={
                "filename": filename,
                "stored_name": stored_name,
                "content_type": content_type,
                "size": size,
                "sha256": digest.hexdigest(),
            },
        )
    except Exception:
        target.unlink(missing_ok=True)
        raise


def file_path(crm: Any, attachment: Any) -> Path:
    return crm.settings.attachments_path / attachment.stored_name[:2] / attachment.stored_name


def make_blueprint() -> Blueprint:
    blp = Blueprint("api_files", __name__, url_prefix="/api/v1", description="Attachments")

    @blp.route("/<plural>/<int:record_id>/attachments", methods=["POST"])
    @blp.doc(
        summary="Attach a file (multipart field 'file')",
        responses=ERROR_RESPONSES,
        requestBody={
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"file": {"type": "string", "format": "binary"}},
                    }
                }
            }
        },
    )
    @blp.response(201)
    def upload(plural: str, record_id: int) -> Any:
        crm = current_crm()
        service = crm.records(g.crm_access)
        entity = service.entity(plural)
        service.get(entity, record_id)  # 404 unless readable, before a byte is stored
        if not service.access.can("attachments", "create"):
            raise PermissionDenied("You may not attach files.")
        upload = request.files.get("file")
        if upload is None:
            raise ValidationError({"file": ["Send the file as multipart field 'file'."]})
        attachment = store(crm, service, entity.name, record_id, upload)
        schema = crm.registry.get("attachments").dump_schema
        return schema.dump(attachment), 201

    @blp.route("/attachments/<int:attachment_id>/content")
    @blp.doc(summary="Download an attachment", responses=ERROR_RESPONSES)
    @blp.response(200)
    def download(attachment_id: int) -> Any:
        crm = current_crm()
        service = crm.records(g.crm_access)
        attachment = service.get("attachments", attachment_id)
        path = file_path(crm, attachment)
        if not path.is_file():
            raise BadRequest("The file is missing from storage.", 410)
        return download_response(path, attachment.filename)

    return blp


def download_response(path: Path, filename: str) -> Any:
    """A stored file as a download that no browser renders or sniffs, whatever its type."""
    response = send_file(
        path,
        mimetype="application/octet-stream",
        as_attachment=True,
        download_name=filename,
        max_age=0,
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
