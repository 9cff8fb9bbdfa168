"""The file outbox used when no ``CRM_SMTP_URL`` is set: one ``.eml`` file per message."""

from __future__ import annotations

import datetime as dt
import os
import secrets
import tempfile
from email.message import EmailMessage
from pathlib import Path


def outbox_path(instance_path: Path) -> Path:
    return instance_path / "outbox"


def write_to_outbox(folder: Path, message: EmailMessage) -> Path:
    """Write ``message`` atomically (temporary file, fsync, rename) and return its path.

    Names sort by time: ``20260101T120000.123456Z-<random>.eml``; readers never see half a file:
    it is written as ``.tmp-<random>.part``, which no reader of ``*.eml`` lists (``pathlib``'s
    glob lists hidden files too).
    """
    folder.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    target = folder / f"{stamp}-{secrets.token_hex(4)}.eml"
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(message.as_bytes())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
