"""Reading spreadsheet exports: refuse what is not CSV, detect encoding and delimiter, and
iterate rows with the line number each starts on."""

from __future__ import annotations

import codecs
import csv
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import CRMError

SAMPLE_BYTES = 64 * 1024
DELIMITERS = ",;\t"
_CHUNK = 1024 * 1024

#: Leading bytes of formats people upload by mistake, with what to tell them.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (an .xlsx or .ods workbook is one: save it as CSV)"),
    (b"\xd0\xcf\x11\xe0", "an old Excel/Office document (save it as CSV)"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf", "a 7-Zip archive"),
    (b"SQLite format 3", "an SQLite database"),
)


class ImportFileError(CRMError):
    """The file cannot be imported at all (nothing was written); the message says why."""

    status = 422
    title = "Unusable import file"


@dataclass(frozen=True)
class CsvFormat:
    """What ``inspect_file`` found out about a file."""

    encoding: str
    delimiter: str
    header: tuple[str, ...]
    header_line: int
    rows: int
    size: int

    @property
    def delimiter_name(self) -> str:
        return {",": "comma", ";": "semicolon", "\t": "tab"}.get(self.delimiter, self.delimiter)


def inspect_file(path: Path, max_bytes: int | None) -> CsvFormat:
    """Check the file and find its encoding, delimiter, header and number of data rows.

    Reads the whole file once (no row is kept), so a decoding or quoting error anywhere is
    reported before anything is written. Raises ``ImportFileError``.
    """
    try:
        size = os.path.getsize(path)
    except OSError as exc:
        raise ImportFileError(f"cannot read {path}: {exc.strerror}") from None
    if max_bytes is not None and size > max_bytes:
        raise ImportFileError(
            f"the file is {_mb(size)}, larger than the import limit of {_mb(max_bytes)} "
            "(set CRM_IMPORT_MAX_MB or import_max_mb in crm.toml to change it)"
        )
    with open(path, "rb") as fh:
        head = fh.read(SAMPLE_BYTES)
    if not head.strip(b" \t\r\n\xef\xbb\xbf"):
        raise ImportFileError("the file is empty")
    encoding = _encoding(path, head)
    text = head.decode(
        encoding.removesuffix("-sig") if encoding == "utf-8-sig" else encoding, errors="ignore"
    )
    delimiter = _delimiter(text)
    header: tuple[str, ...] = ()
    header_line = 0
    rows = 0
    try:
        for line, cells in _records(path, encoding, delimiter):
            if not header:
                header, header_line = tuple(c.strip().lstrip("\ufeff").strip() for c in cells), line
            else:
                rows += 1
    except csv.Error as exc:
        raise ImportFileError(f"the file is not valid CSV: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ImportFileError(f"the file is not text in {encoding}: {exc.reason}") from None
    if not header:
        raise ImportFileError("the file is empty")
    return CsvFormat(encoding, delimiter, header, header_line, rows, size)


def iter_rows(path: Path, fmt: CsvFormat) -> Iterator[tuple[int, list[str]]]:
    """The data rows (after the header) as ``(line number, cells)``; blank rows are left out."""
    records = _records(path, fmt.encoding, fmt.delimiter)
    for line, _cells in records:
        if line == fmt.header_line:
            break
    yield from records


def _records(path: Path, encoding: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    with open(path, encoding=encoding, newline="") as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        line = 1
        for cells in reader:
            start, line = line, reader.line_num + 1
            # not blank: a cell holds more than spaces (most rows: the first one)
            if cells and (cells[0].strip() or "".join(cells).strip()):
                yield start, cells


def _encoding(path: Path, head: bytes) -> str:
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"  # Excel's "Unicode text"
    for magic, what in _MAGIC:
        if head.startswith(magic):
            raise ImportFileError(f"the file is not CSV: it looks like {what}")
    controls = sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13))
    if b"\x00" in head or controls > len(head) // 100:
        raise ImportFileError("the file is not CSV: it holds binary data")
    if _decodes(path, "utf-8"):
        return "utf-8-sig" if head.startswith(codecs.BOM_UTF8) else "utf-8"
    return "cp1252" if _decodes(path, "cp1252") else "latin-1"


def _decodes(path: Path, encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _delimiter(sample: str) -> str:
    lines = sample.splitlines()
    if len(sample) >= SAMPLE_BYTES - 4 and len(lines) > 1:
        lines = lines[:-1]  # the last line of the sample may be cut
    first = next((ln for ln in lines if ln.strip()), "")
    try:
        found = csv.Sniffer().sniff("\n".join(lines[:200]), delimiters=DELIMITERS).delimiter
    except csv.Error:
        found = ""
    if found and found in first:
        return found
    counts = {d: first.count(d) for d in DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _mb(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB"
