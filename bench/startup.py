"""Start-up: wall time of `crm --help` and of creating an app with every installed plugin.

Baseline in the same run: `python -c pass` (the interpreter alone).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def wall(cmd: list[str], repeat: int = 7) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    base = wall([sys.executable, "-c", "pass"])
    help_time = wall([str(BIN / "crm"), "--help"])
    code = (
        "import tempfile; from crmcore.app import create_app; "
        "create_app(tempfile.mkdtemp(), config={'secret_key': 'x'})"
    )
    app_time = wall([sys.executable, "-c", code])
    with tempfile.TemporaryDirectory():
        pass
    print(f"python -c pass (baseline):          {base * 1000:7.0f} ms")
    print(
        f"crm --help:                         {help_time * 1000:7.0f} ms  "
        f"({help_time / base:.1f}x baseline)"
    )
    print(
        f"create_app with all plugins:        {app_time * 1000:7.0f} ms  "
        f"({app_time / base:.1f}x baseline, process start included)"
    )


if __name__ == "__main__":
    main()
