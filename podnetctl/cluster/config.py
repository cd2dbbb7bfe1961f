"""Where podnetctl finds the cluster: ipamd replicas, agents, the admin certificate.

From flags, else a JSON file (`--config`, `--lab`, `~/.config/podnet/podnetctl.json`,
`/etc/podnet/podnetctl.conf`, the first that exists); flags win over the file. Relative
paths in a file are relative to the file's directory.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from podnet.tls.files import TlsFiles

from podnetctl.errors import CommandError

SYSTEM_CONFIG = Path("/etc/podnet/podnetctl.conf")
LAB_CONFIG = Path("/run/podnet-lab/pl-/podnetctl.json")  # podnet-lab's default lab
DEFAULT_TIMEOUT = 5.0

_KEYS = {"ipamd", "agents", "cacert", "cert", "key", "ipamd_insecure_plaintext", "netns", "timeout"}


def split_endpoint(text: str, what: str) -> str:
    """HOST:PORT (or [v6]:PORT) as given; CommandError when not that shape."""
    host, sep, port = text.strip().rpartition(":")
    if not sep or not host.strip("[]") or not port.isdigit() or not 0 < int(port) < 65536:
        raise CommandError(f"{what}: {text!r} is not HOST:PORT")
    return text.strip()


def parse_agent(text: str) -> tuple[str, str]:
    """NAME=HOST:PORT as (name, endpoint)."""
    name, sep, endpoint = text.partition("=")
    if not sep or not name:
        raise CommandError(f"--agent: {text!r} is not NAME=HOST:PORT")
    return name, split_endpoint(endpoint, f"--agent {name}")


@dataclass(frozen=True)
class ClusterConfig:
    ipamd: tuple[str, ...]
    agents: Mapping[str, str]  # node name -> HOST:PORT of its admin service
    tls: TlsFiles | None  # the operator's admin identity; None: plaintext to ipamd only
    ipamd_insecure_plaintext: bool = False
    netns: str | None = None  # dial from inside this network namespace (the lab)
    timeout: float = DEFAULT_TIMEOUT
    source: str = "flags"  # the file it came from, for error messages

    def __post_init__(self) -> None:
        if not self.timeout > 0:
            raise CommandError(f"timeout must be positive, got {self.timeout}")

    def require_ipamd(self) -> tuple[str, ...]:
        if not self.ipamd:
            raise CommandError(
                "no ipamd address: give --ipamd HOST:PORT or a config file (--config)"
            )
        return self.ipamd

    def require_agent_tls(self) -> TlsFiles:
        if self.tls is None:
            raise CommandError(
                "agents answer only over mutual TLS: give --cacert, --cert and --key "
                "(an admin certificate)"
            )
        return self.tls


@dataclass(frozen=True)
class ConfigFlags:
    """What the command line said; None/empty where it said nothing."""

    config: Path | None = None
    lab: bool = False
    ipamd: Sequence[str] = ()
    agents: Sequence[str] = ()
    cacert: Path | None = None
    cert: Path | None = None
    key: Path | None = None
    ipamd_insecure_plaintext: bool = False
    netns: str | None = None
    timeout: float | None = None
    home: Path = field(default_factory=Path.home)


def _config_path(flags: ConfigFlags) -> Path | None:
    if flags.config is not None and flags.lab:
        raise CommandError("--config and --lab exclude each other")
    if flags.config is not None:
        return flags.config
    if flags.lab:
        return LAB_CONFIG
    for candidate in (flags.home / ".config/podnet/podnetctl.json", SYSTEM_CONFIG):
        if candidate.exists():
            return candidate
    return None


def _read_document(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        raise CommandError(f"config file {path} does not exist") from None
    except OSError as error:
        raise CommandError(f"config file {path}: {error.strerror}") from None
    except ValueError as error:
        raise CommandError(f"config file {path} is not JSON: {error}") from None
    if not isinstance(document, dict):
        raise CommandError(f"config file {path} must hold a JSON object")
    unknown = sorted(set(document) - _KEYS)
    if unknown:
        raise CommandError(
            f"config file {path}: unknown key {unknown[0]!r} (known: {', '.join(sorted(_KEYS))})"
        )
    return document


def _typed(document: Mapping[str, Any], key: str, kind: type, path: Path) -> Any:
    value = document.get(key)
    if value is not None and not isinstance(value, kind):
        raise CommandError(f"config file {path}: {key!r} must be a {kind.__name__}")
    return value


def _from_file(path: Path) -> dict[str, Any]:
    """The file's settings in ClusterConfig's terms, paths made absolute."""
    document = _read_document(path)
    base = path.parent

    def file_path(key: str) -> Path | None:
        value = _typed(document, key, str, path)
        return base / os.path.expanduser(value) if value else None

    ipamd = _typed(document, "ipamd", list, path) or []
    agents = _typed(document, "agents", dict, path) or {}
    timeout = document.get("timeout")
    if timeout is not None and not isinstance(timeout, int | float):
        raise CommandError(f"config file {path}: 'timeout' must be a number")
    return {
        "ipamd": [split_endpoint(str(e), f"config file {path}: ipamd") for e in ipamd],
        "agents": {
            str(name): split_endpoint(str(endpoint), f"config file {path}: agent {name}")
            for name, endpoint in agents.items()
        },
        "cacert": file_path("cacert"),
        "cert": file_path("cert"),
        "key": file_path("key"),
        "ipamd_insecure_plaintext": bool(_typed(document, "ipamd_insecure_plaintext", bool, path)),
        "netns": _typed(document, "netns", str, path),
        "timeout": timeout,
    }


def _tls(cacert: Path | None, cert: Path | None, key: Path | None) -> TlsFiles | None:
    given = {"--cacert": cacert, "--cert": cert, "--key": key}
    if not any(given.values()):
        return None
    missing = [flag for flag, value in given.items() if value is None]
    if missing:
        raise CommandError(
            f"the admin certificate needs all three files: give {', '.join(missing)}"
        )
    assert cacert is not None and cert is not None and key is not None
    return TlsFiles(cacert, cert, key)


def resolve(flags: ConfigFlags) -> ClusterConfig:
    """The cluster podnetctl talks to: the flags over the config file, if any."""
    path = _config_path(flags)
    settings = _from_file(path) if path is not None else {}
    agents = dict(parse_agent(text) for text in flags.agents) or settings.get("agents", {})
    ipamd = [split_endpoint(text, "--ipamd") for text in flags.ipamd] or settings.get("ipamd", [])
    tls = _tls(
        flags.cacert or settings.get("cacert"),
        flags.cert or settings.get("cert"),
        flags.key or settings.get("key"),
    )
    timeout = flags.timeout if flags.timeout is not None else settings.get("timeout")
    return ClusterConfig(
        ipamd=tuple(ipamd),
        agents=agents,
        tls=tls,
        ipamd_insecure_plaintext=flags.ipamd_insecure_plaintext
        or settings.get("ipamd_insecure_plaintext", False),
        netns=flags.netns or settings.get("netns"),
        timeout=float(timeout) if timeout is not None else DEFAULT_TIMEOUT,
        source=str(path) if path is not None else "flags",
    )
