"""The Protocol modules stay importable without the heavy clients they abstract."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("module", "absent"),
    [
        ("netagent.seams", ("pyroute2", "grpc", "aiohttp")),
        ("ipamd.allocation_store", ("aetcd", "grpc")),
    ],
)
def test_importing_the_protocols_pulls_in_no_client(module: str, absent: tuple[str, ...]) -> None:
    code = f"import sys, {module}; print(' '.join(sorted(sys.modules)))"
    loaded = set(
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.split()
    )
    assert module in loaded
    assert not {name for name in loaded if name.split(".")[0] in absent}
