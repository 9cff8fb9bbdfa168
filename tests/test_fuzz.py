"""The API under schemathesis: a served instance (`crm serve`, every plugin enabled, demo data)
fuzzed as a sales rep and as an admin, on the suite's database (SQLite or PostgreSQL).

Checks: no 5xx, every response's status code, content type and body as the OpenAPI document
says. The example count is bounded (``CRM_FUZZ_EXAMPLES``, default 2 per operation, with
schemathesis' examples and fuzzing phases) so both databases take a few minutes in all; raise
it locally for a deeper run (``CRM_FUZZ_EXAMPLES=50``), and reproduce one with the seed it
prints (``CRM_FUZZ_SEED``).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from crmcore.testing.browser import api, free_port, instance_env, run_crm, serving

pytestmark = pytest.mark.fuzz

ST = str(Path(sys.executable).with_name("st"))
CHECKS = (
    "not_a_server_error,status_code_conformance,content_type_conformance,"
    "response_schema_conformance"
)
EXAMPLES = os.environ.get("CRM_FUZZ_EXAMPLES", "2")


def _token(env: dict[str, str], email: str) -> str:
    out = subprocess.run(
        [str(Path(sys.executable).with_name("crm")), "tokens", "create", email],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return out.stdout.strip().split()[-1]


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, instance_database: str | None
) -> Iterator[dict[str, Any]]:
    """The demo instance with every plugin, served; tokens of an admin and a sales rep."""
    port = free_port()
    folder = tmp_path_factory.mktemp("fuzz-instance")
    env = instance_env(folder, port, instance_database)
    run_crm(env, "init", "--demo")
    tokens = {
        role: _token(env, email)
        for role, email in (("admin", "admin@example.com"), ("sales_rep", "rep1@example.com"))
    }
    with serving(env, port) as base:
        roles = {
            r["name"]: r["id"]
            for r in api(base, "GET", "/api/v1/roles?limit=200", token=tokens["admin"])["data"]
        }
        callers = {}
        for role, token in tokens.items():
            me = api(base, "GET", "/api/v1/me", token=token)
            token_ids = [
                t["id"] for t in api(base, "GET", "/api/v1/auth/tokens", token=token)["data"]
            ]
            callers[role] = {
                "token": token,
                "user_id": me["id"],
                "role_ids": [roles[me["role"]]],
                "token_ids": token_ids,
            }
        yield {"base": base, "folder": folder, "callers": callers}


def fuzz(
    base: str, folder: Path, caller: dict[str, Any], name: str
) -> subprocess.CompletedProcess[str]:
    """Run schemathesis against the served instance as ``caller``."""
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "fuzz_hooks",
        "PYTHONPATH": os.pathsep.join(
            [str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")]
        ),
        "CRM_FUZZ_USER_IDS": str(caller["user_id"]),
        "CRM_FUZZ_ROLE_IDS": ",".join(map(str, caller["role_ids"])),
        "CRM_FUZZ_TOKEN_IDS": ",".join(map(str, caller["token_ids"])),
    }
    command = [
        ST,
        "run",
        f"{base}/api/v1/openapi.json",
        "--header",
        f"Authorization: Bearer {caller['token']}",
        "--checks",
        CHECKS,
        "--phases",
        "examples,fuzzing",
        "--max-examples",
        EXAMPLES,
        "--workers",
        "1",
        "--seed",
        os.environ.get("CRM_FUZZ_SEED", "20261205"),
        "--generation-database",
        "none",
        "--request-timeout",
        "30",
        "--no-color",
        "--report",
        "junit",
        "--report-dir",
        str(folder / f"report-{name}"),
    ]
    # run in the instance folder: schemathesis keeps its cache of past crashes in the cwd
    return subprocess.run(command, env=env, cwd=folder, capture_output=True, text=True, timeout=900)


@pytest.mark.parametrize("role", ["sales_rep", "admin"])  # the rep first: the admin may edit it
def test_fuzzing_finds_nothing(served: dict[str, Any], role: str) -> None:
    result = fuzz(served["base"], served["folder"], served["callers"][role], role)
    if result.returncode != 0:
        pytest.fail(
            f"schemathesis found failures as {role}:\n{result.stdout[-20000:]}\n"
            + result.stderr[-3000:]
            + "\n\nserver errors (first line, last lines):\n"
            + _server_errors(served["folder"] / "serve.log"),
            pytrace=False,
        )


def _server_errors(log_path: Path, limit: int = 20) -> str:
    """The unhandled errors the served instance logged, each as its request and its cause."""
    blocks = log_path.read_text(errors="replace").split("unhandled error on ")[1:]
    out = []
    for block in blocks[:limit]:
        lines = [line for line in block.splitlines() if line.strip()]
        cause = [line for line in lines if re.match(r"[\w.]+(Error|Exception)\b", line)]
        out.append(f"{lines[0]}: {' / '.join(cause[-2:])}")
    return "\n".join(out)
