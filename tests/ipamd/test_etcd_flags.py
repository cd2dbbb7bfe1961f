"""ipamd's etcd transport: TLS with its client certificate, or plaintext only when a flag
says so; an identity etcd refuses keeps ipamd from serving, and says why."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from podnet.tls.identity import Role

from ipamd.errors import ConfigError
from ipamd.main import config_from_args
from tests.ipamd.conftest import IpamdFactory, acquire
from tools.lab.etcd_server import EtcdServer
from tools.lab.pki import LabPki
from tools.lab.ports import free_port
from tools.lab.processes import spawn, wait_until


def without(argv: list[str], *flags: str) -> list[str]:
    """argv less each flag and its value."""
    kept: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in flags:
            skip = True
        else:
            kept.append(arg)
    return kept


async def run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run, argv, capture_output=True, text=True, timeout=30, check=False
    )


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (
            lambda argv: without(argv, "--etcd-key"),
            "etcd needs TLS: give --etcd-key (or --etcd-insecure-plaintext)",
        ),
        (
            lambda argv: without(argv, "--etcd-ca", "--etcd-cert", "--etcd-key"),
            "etcd needs TLS: give --etcd-ca, --etcd-cert, --etcd-key "
            "(or --etcd-insecure-plaintext)",
        ),
        (
            lambda argv: [*argv, "--etcd-insecure-plaintext"],
            "--etcd-insecure-plaintext and etcd TLS flags exclude each other",
        ),
    ],
)
def test_etcd_tls_flags_are_all_or_the_explicit_plaintext_flag(
    ipamd_factory: IpamdFactory, change: Callable[[list[str]], list[str]], says: str
) -> None:
    argv = change(ipamd_factory.argv("127.0.0.1:0"))
    with pytest.raises(ConfigError) as refused:
        config_from_args(argv[1:])
    assert str(refused.value) == says


async def test_an_unreadable_etcd_certificate_is_one_line_naming_it(
    ipamd_factory: IpamdFactory, tmp_path: Path
) -> None:
    argv = ipamd_factory.argv("127.0.0.1:0")
    argv[argv.index("--etcd-cert") + 1] = str(tmp_path / "nowhere.crt")
    done = await run(argv)
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("podnet-ipamd: error: etcd TLS: certificate")
    assert str(tmp_path / "nowhere.crt") in line


async def test_an_identity_etcd_refuses_keeps_ipamd_from_serving(
    ipamd_factory: IpamdFactory, pki: LabPki, tmp_path: Path
) -> None:
    node = pki.files(Role.NODE, "worker")
    argv = ipamd_factory.argv(f"127.0.0.1:{free_port()}")
    argv[argv.index("--etcd-cert") + 1] = str(node.cert)
    argv[argv.index("--etcd-key") + 1] = str(node.key)
    log = tmp_path / "refused.log"
    process = spawn(argv, log)
    try:
        await asyncio.to_thread(
            wait_until, lambda: "PERMISSION_DENIED" in log.read_text(), 20, "refusal", process, log
        )
        assert '"event": "serving"' not in log.read_text()
        assert process.poll() is None, "it waits for etcd to let it in"
    finally:
        # Killed: ipamd heeds SIGTERM only once it has started serving.
        process.kill()
        await asyncio.to_thread(process.wait)


async def test_plaintext_etcd_needs_the_flag_that_says_so(
    ipamd_factory: IpamdFactory, tmp_path: Path
) -> None:
    etcd = EtcdServer(tmp_path / "etcd", "127.0.0.1", free_port(), free_port(), tls=None)
    etcd.start()
    try:
        plain = ipamd_factory.argv("127.0.0.1:0", "--etcd", etcd.endpoint.address, tls=False)
        refused = await run(plain)
        assert refused.returncode == 2 and "--etcd-insecure-plaintext" in refused.stderr
        ipamd = await ipamd_factory.start(
            "--etcd-insecure-plaintext", etcd=etcd.endpoint.address, tls=False
        )
        assert (await acquire(ipamd.stub(), "node-a")).cidr
        warnings = [e for e in ipamd.log_events() if "plaintext" in str(e.get("event"))]
        assert warnings and warnings[0]["level"] == "warning"
        await ipamd.stop()
    finally:
        await asyncio.to_thread(etcd.stop)
