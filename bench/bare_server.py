"""The bare baseline of ``bench/throughput.py``: a minimal Flask app serving the first page of
25 contacts with raw SQL and ``json.dumps``, run by gunicorn with the settings ``crm serve`` is
given. No token, no scope, no schema: what this machine can serve at all.

``BARE_DATABASE_URL`` names the database (``sqlite:///path`` or ``postgresql://...``). Each
server thread keeps one connection, as the CRM's connection pool does.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from typing import Any

from flask import Flask

URL = os.environ.get("BARE_DATABASE_URL", "")
SQL = "SELECT * FROM core_contact WHERE deleted_at IS NULL ORDER BY id DESC LIMIT 26"
local = threading.local()
app = Flask("bare")


def _connection() -> Any:
    conn = getattr(local, "conn", None)
    if conn is None:
        if URL.startswith("sqlite:///"):
            conn = sqlite3.connect(URL.removeprefix("sqlite:///"), check_same_thread=False)
            conn.row_factory = sqlite3.Row
        else:
            import psycopg
            from psycopg.rows import dict_row

            conn = psycopg.connect(URL, row_factory=dict_row, autocommit=True)
        local.conn = conn
    return conn


@app.get("/contacts")
def page() -> Any:
    rows = _connection().execute(SQL).fetchall()
    body = json.dumps({"data": [dict(r) for r in rows[:25]], "next_cursor": None}, default=str)
    return app.response_class(body, mimetype="application/json")
