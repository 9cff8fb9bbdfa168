"""Files sent with a form: the portal's new requests and replies, the staff reply form.

At most ``MAX_FILES`` files a post, each at most ``support_upload_mb`` megabytes (crm.toml,
default 10; the whole request is also bounded by the core's ``max_upload_mb``). Every type is
kept - a customer's ``.exe`` or ``.html`` is evidence too - and served only as a download.
"""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _

from crmcore.api.attachments import safe_filename

MAX_FILES = 5
DEFAULT_MB = 10
FIELD = "files"


class UploadError(Exception):
    """A file cannot be taken; the message is for the person who sent it."""


def limit_mb(crm: Any) -> float:
    """The size limit of one file in megabytes (``support_upload_mb``)."""
    try:
        mb = float(crm.settings.extra.get("support_upload_mb", DEFAULT_MB))
    except (TypeError, ValueError):
        return DEFAULT_MB
    return mb if mb > 0 else DEFAULT_MB


def limit_text(crm: Any) -> str:
    """The limit as people read it: ``10``, ``2.5``."""
    return f"{limit_mb(crm):g}"


def limit_bytes(crm: Any) -> int:
    return int(limit_mb(crm) * 1024 * 1024)


def read(crm: Any, files: Any) -> list[tuple[str, bytes]]:
    """The files of the form field (``request.files``) as ``(name, bytes)``; ``UploadError``
    for too many, too large or empty files. A field left empty sends no file."""
    chosen = [f for f in files.getlist(FIELD) if f is not None and f.filename]
    if len(chosen) > MAX_FILES:
        raise UploadError(_("Attach at most %(count)d files.", count=MAX_FILES))
    limit = limit_bytes(crm)
    out = []
    for upload in chosen:
        name = safe_filename(upload.filename)
        data = upload.stream.read(limit + 1)
        if len(data) > limit:
            raise UploadError(
                _("%(name)s is larger than %(mb)s MB.", name=name, mb=limit_text(crm))
            )
        if not data:
            raise UploadError(_("%(name)s is empty.", name=name))
        out.append((name, data))
    return out
