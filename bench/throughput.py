"""Throughput under concurrency (issue 19, goal 6): ``BENCH_CLIENTS`` clients (8) for
``BENCH_SECONDS`` (30) against ``crm serve`` on loopback, each asking for the API contact list
at 25 rows over a keep-alive connection, on the shared instance (SQLite). Goal: 500 req/s on
2 cores. The server's defaults (2 workers x 4 threads) unless ``BENCH_WORKERS`` /
``BENCH_THREADS`` say otherwise. The loop is bounded in time and stops by itself.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from common import build_instance, percentiles, size


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    app, path = build_instance(size())
    with app.app_context():
        from crmcore.api.auth import issue_token
        from crmcore.users.models import User

        crm = app.extensions["crm"]
        admin = crm.session.get(User, app.config["BENCH_ADMIN_ID"])
        token, _ = issue_token(crm.session, admin, "bench", 10)
        crm.session.commit()
    clients = int(os.environ.get("BENCH_CLIENTS", "8"))
    seconds = float(os.environ.get("BENCH_SECONDS", "30"))
    port = free_port()
    env = {**os.environ, "CRM_INSTANCE_PATH": str(path), "CRM_SECRET_KEY": "bench-" + "x" * 40}
    crm_bin = Path(sys.executable).with_name("crm")
    server = subprocess.Popen(
        [
            str(crm_bin),
            "serve",
            "--port",
            str(port),
            "--workers",
            os.environ.get("BENCH_WORKERS", "2"),
            "--threads",
            os.environ.get("BENCH_THREADS", "4"),
            "--access-log",
            os.devnull,
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        run(port, token, clients, seconds)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def run(port: int, token: str, clients: int, seconds: float) -> None:
    url = "/api/v1/contacts?limit=25"
    headers = {"Authorization": f"Bearer {token}"}
    deadline = time.monotonic() + 60
    while True:  # wait for the server
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", url, headers=headers)
            if conn.getresponse().status == 200:
                break
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit("the server did not answer within 60 s")
        time.sleep(0.5)
    samples: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine: list[float] = []
        bad = 0
        while time.monotonic() < stop:
            start = time.perf_counter()
            try:
                conn.request("GET", url, headers=headers)
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    bad += 1
            except OSError:
                bad += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                continue
            mine.append(time.perf_counter() - start)
        with lock:
            samples.extend(mine)
            errors[0] += bad

    load = os.getloadavg()[0]
    threads = [threading.Thread(target=client) for _ in range(clients)]
    began = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - began
    rate = len(samples) / elapsed
    p50, p95 = percentiles(samples) if samples else (0.0, 0.0)
    status: Any = "PASS" if rate >= 500 else "MISS"
    print(
        f"{clients} clients x {elapsed:.0f} s, API list (25 rows) over HTTP: {rate:.0f} req/s, "
        f"p50 {p50:.1f} ms, p95 {p95:.1f} ms, {errors[0]} errors; {status} (goal >= 500 req/s; "
        f"load average {load:.1f} at the start)"
    )


if __name__ == "__main__":
    main()
