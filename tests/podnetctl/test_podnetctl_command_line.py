"""podnetctl's cluster commands without a cluster: where addresses and certificates come
from (flags over a config file), and bad input as one line and a non-zero exit."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from podnet.tls.identity import Role

from podnetctl.cluster.config import ConfigFlags, resolve
from podnetctl.errors import CommandError
from tests.podnetctl.conftest import PODNETCTL
from tools.lab.pki import LabPki
from tools.lab.ports import free_port


def podnetctl(*args: str | Path, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PODNETCTL, *(str(arg) for arg in args)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"HOME": str(home), "PATH": "/usr/bin:/bin"},
    )


@pytest.fixture
def admin(tmp_path: Path) -> list[str]:
    """--cacert/--cert/--key of an admin identity."""
    files = LabPki(tmp_path / "pki").files(Role.ADMIN, "alice")
    return ["--cacert", str(files.ca), "--cert", str(files.cert), "--key", str(files.key)]


def write_config(path: Path, document: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document))
    return path


def test_a_config_file_names_the_cluster_with_paths_relative_to_itself(tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "etc/podnetctl.json",
        {
            "ipamd": ["10.0.0.1:9600", "10.0.0.2:9600"],
            "agents": {"node-a": "10.0.0.11:9611"},
            "cacert": "pki/ca.crt",
            "cert": "pki/admin/alice.crt",
            "key": "/abs/alice.key",
            "netns": "lab-net",
            "timeout": 2,
        },
    )

    resolved = resolve(ConfigFlags(config=config, home=tmp_path))

    assert resolved.ipamd == ("10.0.0.1:9600", "10.0.0.2:9600")
    assert dict(resolved.agents) == {"node-a": "10.0.0.11:9611"}
    assert resolved.tls is not None
    assert resolved.tls.ca == tmp_path / "etc/pki/ca.crt"
    assert resolved.tls.cert == tmp_path / "etc/pki/admin/alice.crt"
    assert resolved.tls.key == Path("/abs/alice.key")
    assert (resolved.netns, resolved.timeout, resolved.ipamd_insecure_plaintext) == (
        "lab-net",
        2.0,
        False,
    )


def test_flags_win_over_the_file_and_the_users_file_is_the_default(tmp_path: Path) -> None:
    write_config(
        tmp_path / ".config/podnet/podnetctl.json",
        {"ipamd": ["10.0.0.1:9600"], "agents": {"a": "10.0.0.11:9611"}},
    )

    from_home = resolve(ConfigFlags(home=tmp_path))
    overridden = resolve(
        ConfigFlags(
            home=tmp_path,
            ipamd=["192.0.2.1:1"],
            agents=["b=192.0.2.2:2", "c=[::1]:3"],
            ipamd_insecure_plaintext=True,
        )
    )

    assert from_home.ipamd == ("10.0.0.1:9600",) and dict(from_home.agents) == {
        "a": "10.0.0.11:9611"
    }
    assert overridden.ipamd == ("192.0.2.1:1",)
    assert dict(overridden.agents) == {"b": "192.0.2.2:2", "c": "[::1]:3"}
    assert overridden.ipamd_insecure_plaintext and overridden.tls is None


@pytest.mark.parametrize(
    ("args", "status", "says"),
    [
        (["nodes"], 1, "no ipamd address: give --ipamd HOST:PORT"),
        (["nodes", "--ipamd", "nohost"], 1, "--ipamd: 'nohost' is not HOST:PORT"),
        (["ips", "--agent", "a:1", "--ipamd", "h:1"], 1, "--agent: 'a:1' is not NAME=HOST:PORT"),
        (["status", "--config", "/nonexistent.json"], 1, "/nonexistent.json does not exist"),
        (["status", "--config", "x.json", "--lab"], 1, "--config and --lab exclude each other"),
        (["nodes", "--ipamd", "h:1", "--cert", "c.crt"], 1, "give --cacert, --key"),
        (["ipam", "check", "--ipamd", "h:1"], 1, "agents answer only over mutual TLS"),
        (["ipam", "check", "--timeout", "-1"], 2, "must not be negative"),
        (["ipam", "release"], 2, "the following arguments are required: --ip"),
        (["ipam", "release", "--ip", "10.0.0.300"], 2, "'10.0.0.300' is not an IP address"),
        (["ipam"], 2, "the following arguments are required"),
        (["nodes", "--netns", "no-such-netns", "--ipamd", "h:1"], 1, "no-such-netns"),
    ],
)
def test_bad_input_is_one_line_and_a_non_zero_exit(
    tmp_path: Path, args: list[str], status: int, says: str
) -> None:
    done = podnetctl(*args, home=tmp_path)

    assert done.returncode == status, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("podnetctl") and says in lines[0], lines
    assert done.stdout == ""


@pytest.mark.parametrize(
    ("document", "says"),
    [
        ("not json", "is not JSON"),
        ([1, 2], "must hold a JSON object"),
        ({"ipamd": ["h:1"], "agnets": {}}, "unknown key 'agnets'"),
        ({"ipamd": "h:1"}, "'ipamd' must be a list"),
        ({"ipamd": ["h:1"], "agents": {"a": "nowhere"}}, "agent a: 'nowhere' is not HOST:PORT"),
        ({"ipamd": ["h:1"], "timeout": "soon"}, "'timeout' must be a number"),
    ],
)
def test_a_bad_config_file_is_one_line_naming_the_file(
    tmp_path: Path, document: object, says: str
) -> None:
    path = tmp_path / "podnetctl.json"
    path.write_text(document if isinstance(document, str) else json.dumps(document))

    done = podnetctl("nodes", "--config", path, home=tmp_path)

    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and says in lines[0], lines


def test_check_without_an_answering_ipamd_could_not_check(tmp_path: Path, admin: list[str]) -> None:
    closed = f"127.0.0.1:{free_port()}"

    check = podnetctl("ipam", "check", "--ipamd", closed, *admin, home=tmp_path)
    nodes = podnetctl(
        "nodes", "--ipamd", closed, *admin, "--ipamd-insecure-plaintext", home=tmp_path
    )

    assert check.returncode == 2, check.stderr
    assert f"no ipamd replica answered ({closed}: UNAVAILABLE" in check.stderr
    assert nodes.returncode == 1 and "no ipamd replica answered" in nodes.stderr
    assert len(check.stderr.strip().splitlines()) == 1


def test_an_unreadable_admin_certificate_is_one_line(tmp_path: Path, admin: list[str]) -> None:
    missing = [*admin[:-1], str(tmp_path / "missing.key")]

    done = podnetctl("status", "--ipamd", "127.0.0.1:1", *missing, home=tmp_path)

    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "missing.key" in lines[0], lines


def test_resolve_refuses_a_timeout_that_is_not_positive(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="timeout must be positive"):
        resolve(ConfigFlags(home=tmp_path, ipamd=["h:1"], timeout=0))
