"""Network configuration lists (.conflist) and the per-plugin stdin built from them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.cniexec.errors import ConfigError


@dataclass(frozen=True)
class NetworkConfigList:
    name: str
    cni_version: str
    plugins: tuple[Mapping[str, Any], ...]
    disable_check: bool = False
    source: str = ""

    @property
    def plugin_types(self) -> tuple[str, ...]:
        return tuple(str(plugin["type"]) for plugin in self.plugins)


def parse_conflist(raw: bytes | str, source: str = "<bytes>") -> NetworkConfigList:
    try:
        document = json.loads(raw)
    except ValueError as error:
        raise ConfigError(f"{source}: not JSON: {error}") from error
    if not isinstance(document, dict):
        raise ConfigError(f"{source}: a configuration list must be a JSON object")
    name = document.get("name")
    version = document.get("cniVersion")
    plugins = document.get("plugins")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{source}: missing network name")
    if not isinstance(version, str) or not version:
        raise ConfigError(f"{source}: missing cniVersion")
    if not isinstance(plugins, list) or not plugins:
        raise ConfigError(f"{source}: no plugins")
    for index, plugin in enumerate(plugins):
        if not isinstance(plugin, dict) or not isinstance(plugin.get("type"), str):
            raise ConfigError(f"{source}: plugin {index} has no type")
    return NetworkConfigList(
        name=name,
        cni_version=version,
        plugins=tuple(plugins),
        disable_check=bool(document.get("disableCheck", False)),
        source=source,
    )


def load_conflist(path: Path | str) -> NetworkConfigList:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise ConfigError(f"{path}: {error.strerror}") from error
    return parse_conflist(raw, str(path))


def plugin_stdin(
    conflist: NetworkConfigList,
    plugin: Mapping[str, Any],
    prev_result: Mapping[str, Any] | None,
    capability_args: Mapping[str, Any],
) -> bytes:
    """The plugin object plus name, cniVersion, prevResult and runtimeConfig.

    runtimeConfig carries only the capability keys the plugin declares as true
    in its "capabilities" object, and is omitted when none apply.
    """
    config = dict(plugin)
    config["name"] = conflist.name
    config["cniVersion"] = conflist.cni_version
    if prev_result is not None:
        config["prevResult"] = prev_result
    declared = plugin.get("capabilities")
    if isinstance(declared, dict):
        runtime_config = {
            key: value for key, value in capability_args.items() if declared.get(key) is True
        }
        if runtime_config:
            config["runtimeConfig"] = runtime_config
    return json.dumps(config).encode()


def version_at_least(version: str, minimum: str) -> bool:
    def parts(text: str) -> tuple[int, ...]:
        try:
            return tuple(int(part) for part in text.split("."))
        except ValueError as error:
            raise ConfigError(f"invalid cniVersion {text!r}") from error

    return parts(version) >= parts(minimum)
