"""Running podnet-churn the way a user does: the installed console script."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

CHURN_CLI = str(Path(sys.executable).parent / "podnet-churn")


def run_churn_cli(
    *args: str, report: Path, timeout: float = 120.0
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any] | None]:
    done = subprocess.run(
        [CHURN_CLI, *args, "--report", str(report)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    document = json.loads(report.read_text()) if report.exists() else None
    return done, document
