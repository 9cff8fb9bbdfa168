"""Load and faults on the scaled set-up: PostgreSQL + Redis + N ``crm serve`` + M ``crm worker``.

Everything runs on loopback in throw-away folders and ports of its own (never the shared test
cluster): a PostgreSQL cluster (``initdb`` + ``pg_ctl``, as ``scripts/postgres`` does), a
``redis-server`` with an append-only file (so a restart keeps the queue), the app nodes and the
job consumers. The contacts are inserted straight into the tables by ``common.build_instance``
(SQLAlchemy bulk INSERTs of ``common.contact_rows``; PostgreSQL fills the generated ``tsvector``
column of the search documents itself), then the id sequences are moved past them.

The load generator is a small threaded HTTP client (stdlib ``http.client``, no proxy): each
request goes to the next node round-robin. The mix: list pages (first, filtered), single
records, searches, and contact creations carrying an ``Idempotency-Key`` that are retried with
the same key on 503, 409, 429 and connection errors. During the run the script kill -9's one
app node and one worker (and restarts them), restarts PostgreSQL (``pg_ctl restart -m fast``)
and Redis. Marker jobs enqueued before the faults record every run in a table, so a job that
ran twice shows.

Baseline, measured in the same run: the read part of the mix against one node, no faults.

Run: BENCH_CONTACTS=20000 BENCH_USERS=10 BENCH_SECONDS=60 BENCH_NODES=2 BENCH_WORKERS=1 \
     python bench/load_faults.py      (defaults: 1,000,000 contacts, 50 users, 300 s, 3, 2)
"""

from __future__ import annotations

import http.client
import itertools
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

HERE = Path(__file__).resolve().parent
SECRET = "bench-" + "x" * 40
MARKER_JOBS = 200
READ_KINDS = ("list", "filtered", "one", "search")


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, str(default)))


def mark(app: Any, job_no: int) -> None:
    """The marker job: record one run of job ``job_no`` (duplicates show as a second row)."""
    from sqlalchemy import text

    time.sleep(0.3)  # long enough for a kill -9 to land in the middle of some
    with app.extensions["crm"].engine.begin() as conn:
        conn.execute(text("INSERT INTO bench_job_mark (job_no) VALUES (:n)"), {"n": job_no})


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_port(port: int, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing answers on port {port}")


class Cluster:
    """The processes and folders of one run; ``close`` removes them all."""

    def __init__(self, root: Path, nodes: int, workers: int) -> None:
        self.root = root
        self.as_root = os.getuid() == 0
        self.pg_bin = sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1]
        self.pg_dir = root / "pg"
        self.pg_port = _free_port()
        self.redis_port = _free_port()
        self.node_ports = [_free_port() for _ in range(nodes)]
        self.nodes: list[subprocess.Popen[bytes] | None] = [None] * nodes
        self.workers: list[subprocess.Popen[bytes] | None] = [None] * workers
        self.redis: subprocess.Popen[bytes] | None = None
        self.pg_started = False
        self.closing = False
        self.db_url = f"postgresql://postgres@127.0.0.1:{self.pg_port}/postgres"
        self.redis_url = f"redis://127.0.0.1:{self.redis_port}/0"
        self.instance = root / "instance"
        self.env = dict(
            os.environ,
            CRM_INSTANCE_PATH=str(self.instance),
            CRM_DATABASE_URL=self.db_url,
            CRM_REDIS_URL=self.redis_url,
            CRM_SECRET_KEY=SECRET,
            CRM_JOB_QUEUE="bench-faults",
            CRM_DEFAULT_REGION="ES",  # most numbers are Spanish ones written without +34
            PYTHONPATH=os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])),
        )
        self.crm = str(Path(sys.executable).with_name("crm"))
        self.redis_bin = shutil.which("redis-server") or "/usr/bin/redis-server"

    # PostgreSQL --------------------------------------------------------------------------

    def _pg(self, *args: str) -> None:
        cmd = [str(self.pg_bin / args[0]), *args[1:]]
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def pg_ctl(self, action: str, *extra: str) -> None:
        options = (
            f"-h 127.0.0.1 -p {self.pg_port} -k {self.pg_dir} -c fsync=off "
            "-c max_connections=300 -c shared_buffers=256MB"
        )
        self._pg(
            "pg_ctl", "-D", str(self.pg_dir), "-l", str(self.pg_dir / "server.log"), "-w",
            "-o", options, *extra, action,
        )  # fmt: skip

    def start_postgres(self) -> None:
        self.pg_dir.mkdir(parents=True)
        if self.as_root:
            shutil.chown(self.root, "postgres")
            shutil.chown(self.pg_dir, "postgres")
        self._pg(
            "initdb", "-D", str(self.pg_dir), "-U", "postgres", "--auth=trust", "-E", "UTF8",
            "--locale=C.UTF-8",
        )  # fmt: skip
        self.pg_ctl("start")
        self.pg_started = True

    # Redis -------------------------------------------------------------------------------

    def start_redis(self) -> None:
        if self.closing:
            return
        (self.root / "redis").mkdir(exist_ok=True)
        self.redis = subprocess.Popen(
            [self.redis_bin, "--bind", "127.0.0.1", "--port", str(self.redis_port),
             "--dir", str(self.root / "redis"), "--appendonly", "yes", "--save", ""],
            stdout=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        _wait_port(self.redis_port)

    def restart_redis(self) -> None:
        subprocess.run(
            [self.redis_bin.replace("redis-server", "redis-cli"), "-p", str(self.redis_port),
             "shutdown"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        if self.redis is not None:
            self.redis.wait(30)
        time.sleep(1)
        self.start_redis()

    # app nodes and workers ---------------------------------------------------------------

    def _log(self, name: str) -> Any:
        return open(self.root / f"{name}.log", "ab")

    def start_node(self, i: int) -> None:
        if self.closing:
            return
        self.nodes[i] = subprocess.Popen(
            [self.crm, "serve", "--host", "127.0.0.1", "--port", str(self.node_ports[i]),
             "--workers", "1", "--threads", "8", "--timeout", "60"],
            env=self.env, stdout=self._log(f"node{i}"), stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        _wait_port(self.node_ports[i], 120)

    def start_worker(self, i: int) -> None:
        if self.closing:
            return
        self.workers[i] = subprocess.Popen(
            [self.crm, "worker", "--periodic" if i == 0 else "--no-periodic"],
            env=self.env, stdout=self._log(f"worker{i}"),
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip

    @staticmethod
    def kill9(proc: subprocess.Popen[bytes] | None) -> None:
        """kill -9 a process and its children (a gunicorn master with its workers)."""
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()

    def close(self) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not stop the cleanup
        self.closing = True  # the fault thread starts nothing more
        for proc in [*self.nodes, *self.workers]:
            self.kill9(proc)
        self.kill9(self.redis)
        if self.pg_started:
            try:
                self.pg_ctl("stop", "-m", "immediate")
            except subprocess.CalledProcessError:
                pass
        shutil.rmtree(self.root, ignore_errors=True)


# the load ---------------------------------------------------------------------------------


@dataclass
class Stats:
    """Answers per phase: latencies by kind, status counts, connection errors."""

    latency: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    status: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    conn_errors: int = 0


class Load:
    """U users sending the mix round-robin over the nodes, recording per phase."""

    def __init__(self, ports: list[int], token: str, max_id: int, reads_only: bool) -> None:
        self.ports = ports
        self.token = token
        self.max_id = max_id
        self.reads_only = reads_only
        self.phase = "steady"
        self.stats: dict[str, Stats] = defaultdict(Stats)
        self.lock = threading.Lock()
        self.rr = itertools.count()
        self.stop = threading.Event()
        self.accepted: dict[str, int] = {}  # idempotency key -> contact id
        self.given_up: list[str] = []
        self.replays_differing = 0
        self.by_kind: dict[tuple[str, int], int] = defaultdict(int)
        self.samples: dict[int, str] = {}  # first body of each unexpected status

    def _record(self, phase: str, kind: str, seconds: float, status: int | None) -> None:
        with self.lock:
            stats = self.stats[phase]
            if status is None:
                stats.conn_errors += 1
                return
            stats.status[status] += 1
            stats.latency[kind].append(seconds)

    def request(
        self,
        conns: dict[int, http.client.HTTPConnection],
        kind: str,
        method: str,
        url: str,
        body: dict[str, Any] | None = None,
        key: str | None = None,
    ) -> tuple[int | None, dict[str, Any] | None, str | None]:
        port = self.ports[next(self.rr) % len(self.ports)]
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if key:
            headers["Idempotency-Key"] = key
        phase = self.phase
        start = time.perf_counter()
        fresh_retry, failover = True, True
        while True:
            reused = port in conns
            try:
                conn = conns.get(port)
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                    conns[port] = conn
                conn.request(method, url, body=payload, headers=headers)
                response = conn.getresponse()
                data = response.read()
                status = response.status
                break
            except (OSError, http.client.HTTPException):
                conns.pop(port, None)
                if reused and fresh_retry:  # the node closed an idle keep-alive connection
                    fresh_retry = False
                    continue
                self._record(phase, kind, time.perf_counter() - start, None)
                if not failover:
                    return None, None, None
                # like a proxy's "next upstream": once more on the next node
                failover, fresh_retry = False, True
                port = self.ports[next(self.rr) % len(self.ports)]
                start = time.perf_counter()
        self._record(phase, kind, time.perf_counter() - start, status)
        with self.lock:
            self.by_kind[kind, status] += 1
            if status >= 400 and status != 503:
                self.samples.setdefault(status, f"{method} {url}: {data[:300]!r}")
        try:
            parsed = json.loads(data) if data else None
        except ValueError:
            parsed = None
        return status, parsed, response.getheader("Retry-After")

    def user(self, seed: int) -> None:
        rnd = random.Random(seed)
        conns: dict[int, http.client.HTTPConnection] = {}
        from common import CITIES, FIRST, LAST

        while not self.stop.is_set():
            roll = rnd.random()
            if self.reads_only:
                roll *= 0.8
            if roll < 0.25:
                self.request(conns, "list", "GET", "/api/v1/contacts?limit=25")
            elif roll < 0.4:
                city = rnd.choice(CITIES)[0].lower()
                self.request(
                    conns,
                    "filtered",
                    "GET",
                    f"/api/v1/contacts?limit=25&city={city}&sort=last_name",
                )
            elif roll < 0.6:
                self.request(conns, "one", "GET", f"/api/v1/contacts/{rnd.randint(1, self.max_id)}")
            elif roll < 0.8:
                words = rnd.choice([LAST, FIRST])
                q = quote(f"{rnd.choice(words).lower()} {rnd.choice(CITIES)[0]}")
                self.request(conns, "search", "GET", f"/api/v1/contacts?limit=25&q={q}")
            else:
                self.write(conns, rnd, FIRST, LAST, CITIES)

    def write(self, conns: Any, rnd: random.Random, first: Any, last: Any, cities: Any) -> None:
        key = uuid.uuid4().hex
        city, country = rnd.choice(cities)
        given, family = rnd.choice(first), rnd.choice(last)
        body = {  # as messy as people type it: stray spaces, capitals, punctuated phones
            "first_name": rnd.choice([given, f"  {given} ", given.upper()]),
            "last_name": rnd.choice([family, f"{family}  ", family.lower()]),
            "email": rnd.choice(
                [f"{given}.{family}.{key[:8]}@Example.COM", f" lf-{key}@example.com "]
            ),
            # one in ten is not a phone number at all: refused with 422, nothing accepted
            "phone": rnd.choice(
                [
                    "+34 91 123 45 67",
                    "912 345 678",
                    "+1 (617) 253-1000",
                    "0044 20 7946 0958",
                    "+34 612-34-56-78",
                    "91-555-0100",
                    "",
                    "612 34 56 78",
                    "+34 91 555 01 00",
                    "call me",
                ]
            ),
            "city": rnd.choice([city, city.upper(), f" {city}"]),
            "country": country,
            "description": f"loadfault {key}",
        }
        deadline = time.monotonic() + 180  # a retrying client gives up after three minutes
        first_answer: dict[str, Any] | None = None
        while time.monotonic() < deadline:
            status, data, retry_after = self.request(
                conns, "write", "POST", "/api/v1/contacts", body, key
            )
            if status is not None and 200 <= status < 300 and data:
                record = data.get("data", data)
                if first_answer is None and rnd.random() < 0.1:
                    first_answer = record  # replay once on purpose: same key, same answer
                    continue
                if first_answer is not None and first_answer.get("id") != record.get("id"):
                    with self.lock:
                        self.replays_differing += 1
                with self.lock:
                    self.accepted[key] = int(record["id"])
                return
            if status is not None and status not in (409, 429, 503) and status < 500:
                return  # refused for good (4xx): nothing was accepted
            time.sleep(min(float(retry_after or 0.5), 2.0))
        with self.lock:
            self.given_up.append(key)

    def run(self, users: int, seconds: float) -> None:
        threads = [threading.Thread(target=self.user, args=(i,), daemon=True) for i in range(users)]
        for thread in threads:
            thread.start()
        time.sleep(seconds)
        self.stop.set()
        for thread in threads:
            thread.join(240)


def _p(samples: list[float], q: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000


def _report(stats: dict[str, Stats], seconds: dict[str, float]) -> None:
    print(
        f"{'phase':<26} {'s':>5} {'requests':>9} {'req/s':>7} {'p50 ms':>8} {'p95 ms':>8} "
        f"{'4xx':>5} {'503':>5} {'other 5xx':>9} {'conn err':>8}"
    )
    for phase, st in stats.items():
        every = [x for samples in st.latency.values() for x in samples]
        five = sum(n for s, n in st.status.items() if s >= 500 and s != 503)
        four = sum(n for s, n in st.status.items() if 400 <= s < 500)
        span = max(seconds.get(phase, 0.0), 1e-6)
        print(
            f"{phase:<26} {span:5.0f} {len(every):9,} {len(every) / span:7.1f} "
            f"{_p(every, 0.5):8.1f} {_p(every, 0.95):8.1f} {four:5} {st.status.get(503, 0):5} "
            f"{five:9} {st.conn_errors:8}"
        )


def _reads(stats: dict[str, Stats]) -> list[float]:
    return [x for st in stats.values() for k in READ_KINDS for x in st.latency.get(k, [])]


def main() -> None:
    count = _env_int("BENCH_CONTACTS", 1_000_000)
    users = _env_int("BENCH_USERS", 50)
    seconds = _env_int("BENCH_SECONDS", 300)
    nodes = _env_int("BENCH_NODES", 3)
    workers = _env_int("BENCH_WORKERS", 2)
    print(
        f"configuration: {count:,} contacts, {users} users, {seconds} s, {nodes} app nodes "
        f"(1 gunicorn worker x 8 threads each), {workers} job workers; machine: "
        f"{os.cpu_count()} CPUs, load {' '.join(open('/proc/loadavg').read().split()[:3])}"
    )
    cluster = Cluster(Path(tempfile.mkdtemp(prefix="crm-bench-faults-")), nodes, workers)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # runs the finally below
    try:
        _scenario(cluster, count, users, seconds)
    finally:
        cluster.close()


def _scenario(cluster: Cluster, count: int, users: int, seconds: int) -> None:
    os.environ.update({k: v for k, v in cluster.env.items() if k.startswith("CRM_")})
    os.environ.pop("BENCH_INSTANCE", None)
    sys.path.insert(0, str(HERE))
    from common import build_instance
    from sqlalchemy import text

    started = time.perf_counter()
    cluster.start_postgres()
    cluster.start_redis()
    app, _path = build_instance(count, cluster.instance)
    with app.app_context():
        from crmcore.api.auth import issue_token
        from crmcore.users.models import User

        crm = app.extensions["crm"]
        with crm.engine.begin() as conn:
            for table in ("core_contact", "core_search_doc"):
                conn.execute(
                    text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                         f"(SELECT max(id) FROM {table}))")
                )  # fmt: skip
            conn.execute(text("CREATE TABLE bench_job_mark (job_no integer NOT NULL)"))
            conn.execute(text("ANALYZE"))
        admin = crm.session.get(User, app.config["BENCH_ADMIN_ID"])
        token, _ = issue_token(crm.session, admin, "bench", 10)
        crm.session.commit()
    print(
        f"set-up with {count:,} contacts (bulk INSERT, tsvector generated by PostgreSQL) in "
        f"{time.perf_counter() - started:.0f} s"
    )
    for i in range(len(cluster.nodes)):
        cluster.start_node(i)
    for i in range(len(cluster.workers)):
        cluster.start_worker(i)

    # baseline: the read mix against one node, no faults
    base_seconds = max(15, seconds // 5)
    base = Load(cluster.node_ports[:1], token, count, reads_only=True)
    base.run(users, base_seconds)
    base_reads = _reads(base.stats)
    print(f"\nbaseline: read mix on 1 node, no faults, {base_seconds} s")
    _report(base.stats, {"steady": base_seconds})

    # marker jobs, enqueued before the faults, due across the run
    with app.app_context():
        jobs = app.extensions["crm"].jobs
        for n in range(MARKER_JOBS):
            jobs.enqueue(
                "load_faults:mark", n, delay=seconds * 0.8 * n / MARKER_JOBS,
                retries=20, retry_delay=3,
            )  # fmt: skip
        jobs.close()

    load = Load(cluster.node_ports, token, count, reads_only=False)
    spans: dict[str, float] = {}
    faults = threading.Thread(target=_faults, args=(cluster, load, seconds, spans), daemon=True)
    faults.start()
    load.run(users, seconds)
    faults.join()
    print(f"\nfault run: full mix round-robin on {len(cluster.node_ports)} nodes, {seconds} s")
    _report(load.stats, spans)

    # checks
    time.sleep(5)
    deadline = time.monotonic() + 60
    with app.app_context():
        engine = app.extensions["crm"].engine
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                done = conn.scalar(text("SELECT count(DISTINCT job_no) FROM bench_job_mark"))
            if done >= MARKER_JOBS:
                break
            time.sleep(2)
        with engine.connect() as conn:
            runs = conn.execute(
                text("SELECT job_no, count(*) FROM bench_job_mark GROUP BY job_no")
            ).all()
            created = conn.execute(
                text(
                    "SELECT id, description FROM core_contact WHERE description LIKE 'loadfault %'"
                )
            ).all()
    by_key: dict[str, list[int]] = defaultdict(list)
    for cid, description in created:
        by_key[description.split()[1]].append(cid)
    duplicates = sum(len(ids) - 1 for ids in by_key.values())
    lost = [k for k, cid in load.accepted.items() if cid not in by_key.get(k, [])]
    orphans = [k for k in by_key if k not in load.accepted]
    twice = sum(1 for _, n in runs if n > 1)
    unreadable = _unreadable(cluster.node_ports[0], token, load.accepted)
    five_hundreds = sum(
        n for st in load.stats.values() for s, n in st.status.items() if s >= 500 and s != 503
    )
    steady_503 = load.stats["steady"].status.get(503, 0)
    last = load.stats["recovered"]
    read_ratio = _p(_reads(load.stats), 0.95) / max(_p(base_reads, 0.95), 1e-6)
    print(
        f"\nreads p95: {_p(_reads(load.stats), 0.95):.1f} ms under faults on "
        f"{len(cluster.nodes)} nodes vs {_p(base_reads, 0.95):.1f} ms baseline "
        f"(1 node, no faults): ratio {read_ratio:.2f}"
    )
    print(
        f"writes: {len(load.accepted):,} keys accepted, {len(created):,} contacts created, "
        f"{duplicates} duplicates, {len(lost)} lost, {len(orphans)} created for keys given up "
        f"({len(load.given_up)} given up), {load.replays_differing} replays with another answer, "
        f"{unreadable} of a sample not readable through the API"
    )
    print(f"marker jobs: {len(runs)}/{MARKER_JOBS} ran, {twice} ran more than once")
    checks = [
        ("no 5xx other than 503", five_hundreds == 0),
        ("no 503 before the faults", steady_503 == 0),
        ("recovered: no 5xx or connection error in the last phase",
         sum(n for s, n in last.status.items() if s >= 500) == 0 and last.conn_errors == 0),
        ("every accepted write readable (no lost write)", not lost and not unreadable),
        ("contacts created == distinct keys accepted (no duplicate)",
         len(created) == len(load.accepted) and duplicates == 0),
        ("same key, same answer", load.replays_differing == 0),
        ("no job ran twice", twice == 0),
        ("every marker job ran (Huey takes a job off the queue before running it: one "
         "running in a killed worker is lost, not repeated)", len(runs) == MARKER_JOBS),
    ]  # fmt: skip
    print(
        "answers by kind: "
        + ", ".join(f"{k} {s}: {n}" for (k, s), n in sorted(load.by_kind.items()))
    )
    for status, sample in sorted(load.samples.items()):
        print(f"  first {status}: {sample}")
    if five_hundreds:
        _print_tracebacks(cluster.root)
    for name, ok in checks:
        print(f"{'PASS' if ok else 'MISS'} {name}")
    print(f"load at the end: {' '.join(open('/proc/loadavg').read().split()[:3])}")


def _print_tracebacks(root: Path) -> None:
    """The first tracebacks in the app nodes' logs (the folder is removed afterwards)."""
    for log in sorted(root.glob("node*.log")):
        lines = log.read_text(errors="replace").splitlines()
        starts = [i for i, line in enumerate(lines) if line.startswith("Traceback")][:2]
        for i in starts:
            print(f"--- {log.name}:", *lines[max(0, i - 2) : i + 40], sep="\n")


def _unreadable(port: int, token: str, accepted: dict[str, int]) -> int:
    """How many of up to 200 accepted writes the API does not return as written."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    missing = 0
    for key, cid in random.sample(sorted(accepted.items()), min(200, len(accepted))):
        conn.request("GET", f"/api/v1/contacts/{cid}", headers={"Authorization": f"Bearer {token}"})
        response = conn.getresponse()
        body = json.loads(response.read() or b"{}")
        record = body.get("data", body)
        if response.status != 200 or key not in (record.get("description") or ""):
            missing += 1
    conn.close()
    return missing


def _faults(cluster: Cluster, load: Load, seconds: int, spans: dict[str, float]) -> None:
    """The fault timeline: node + worker killed, PostgreSQL restarted, Redis restarted."""
    t0 = time.monotonic()
    mark = t0

    def phase(name: str) -> None:
        nonlocal mark
        now = time.monotonic()
        spans[load.phase] = spans.get(load.phase, 0.0) + now - mark
        mark = now
        load.phase = name

    def at(fraction: float) -> None:
        time.sleep(max(0.0, t0 + seconds * fraction - time.monotonic()))

    at(0.15)
    phase("node + worker killed")
    cluster.kill9(cluster.nodes[-1])
    cluster.kill9(cluster.workers[-1])
    time.sleep(5)
    cluster.start_worker(len(cluster.workers) - 1)
    cluster.start_node(len(cluster.nodes) - 1)
    phase("after node restart")
    at(0.4)
    phase("PostgreSQL restart")
    cluster.pg_ctl("restart", "-m", "fast")
    time.sleep(2)
    phase("after PostgreSQL restart")
    at(0.65)
    phase("Redis restart")
    cluster.restart_redis()
    time.sleep(2)
    phase("after Redis restart")
    at(0.8)
    phase("recovered")
    at(1.0)
    spans[load.phase] = spans.get(load.phase, 0.0) + time.monotonic() - mark


if __name__ == "__main__":
    main()
