"""The sizing table of the admin guide (issue 19, goal 5): ``crm serve`` on the shared instance
(SQLite) pinned to 1 or 2 cores (``taskset``) with several workers x threads, under
``BENCH_CLIENTS`` (8) clients asking for the API list at 25 rows for ``BENCH_SIZING_SECONDS``
(10) each. Prints a Markdown table: req/s, p50/p95 and the server's CPU time per request (and
from it the req/s the server would give with those cores to itself, counting at most one core
per worker), with the load average.

    BENCH_CONTACTS=20000 python bench/sizing.py
    BENCH_SIZING="1x1x1 2x2x4" python bench/sizing.py     # cores x workers x threads
"""

from __future__ import annotations

import os

from throughput import LIST_URL, crm_command, free_port, measure, sqlite_setup

DEFAULT = "1x1x1 1x1x4 1x2x4 2x1x4 2x2x1 2x2x4 2x2x8 2x4x2 2x4x4"


def main() -> None:
    clients = int(os.environ.get("BENCH_CLIENTS", "8"))
    seconds = float(os.environ.get("BENCH_SIZING_SECONDS", "10"))
    cases = [
        tuple(int(n) for n in case.split("x"))
        for case in os.environ.get("BENCH_SIZING", DEFAULT).split()
    ]
    env, _bare_url, token = sqlite_setup()
    print(
        f"{clients} clients, {seconds:.0f} s each, API list at 25 rows, SQLite, "
        f"{os.cpu_count()} CPUs"
    )
    print()
    print(
        "| cores | workers | threads | req/s | p50 ms | p95 ms | CPU ms/request "
        "| req/s with the cores to itself (one core a worker at most) | load |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for cores, workers, threads in cases:
        port = free_port()
        result = measure(
            crm_command(port, workers, threads),
            port,
            env,
            LIST_URL,
            {"Authorization": f"Bearer {token}"},
            clients,
            seconds,
            cores=",".join(str(n) for n in range(cores)),
        )
        # a worker uses about one core at most (its threads share one interpreter lock)
        ceiling = result.capacity(min(cores, workers))
        print(
            f"| {cores} | {workers} | {threads} | {result.rate:.0f} | {result.p50:.0f} | "
            f"{result.p95:.0f} | {result.cpu_ms:.2f} | {ceiling:.0f} | "
            f"{result.load:.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
