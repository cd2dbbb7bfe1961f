"""Every shim's compiled-in or imported defaults are podnet.shim.defaults'.

Checked by behaviour: a DEL with a configuration naming neither the agent socket nor
the spool directory, run in a private mount namespace whose /run and /var/lib are
empty tmpfs, must try the default socket and spool under the default directory.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from podnet.shim.defaults import DEFAULT_AGENT_SOCKET, DEFAULT_SPOOL_DIR
from podnet.shim.spool import spool_file_name

from tests.shim.conftest import attachment_env, network_config

# Runs in its own mount namespace (private propagation: nothing reaches the host's).
IN_EMPTY_RUN_AND_VAR_LIB = """
mount -t tmpfs podnet-test /run && mount -t tmpfs podnet-test /var/lib || exit 90
"$1"
echo "exit $?"
ls -A "$2"
"""


def test_defaults_are_the_contract_package(shim: Path) -> None:
    env = attachment_env("DEL")
    done = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", IN_EMPTY_RUN_AND_VAR_LIB,
         "sh", str(shim), DEFAULT_SPOOL_DIR],
        env=env,
        input=network_config(),
        capture_output=True,
        timeout=30,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    name = spool_file_name(env["CNI_CONTAINERID"], env["CNI_IFNAME"])
    assert done.stdout.decode().split("\n") == ["exit 0", name, ""]
    log = json.loads(done.stderr)
    assert log["agent_socket"] == DEFAULT_AGENT_SOCKET
    assert log["reason"].startswith(f"{DEFAULT_AGENT_SOCKET}: ")
    assert log["spool"] == f"{DEFAULT_SPOOL_DIR}/{name}"
    assert not Path(DEFAULT_SPOOL_DIR, name).exists()  # the host's directory was not touched
