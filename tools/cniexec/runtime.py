"""A minimal CNI runtime: executes a configuration list the way libcni does.

ADD runs the plugins in order, each getting the previous plugin's result as
prevResult, and caches the final result; DEL runs them in reverse with the
cached result (cniVersion >= 0.4.0); CHECK runs them in order with it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from podnet.logs import log_event

from tools.cniexec.cache import CachedAttachment, ResultCache
from tools.cniexec.conflist import NetworkConfigList, plugin_stdin, version_at_least
from tools.cniexec.errors import (
    CacheMissError,
    ConfigError,
    PluginError,
    UnsupportedCommandError,
)
from tools.cniexec.execution import PluginEnv, exec_plugin, find_plugin
from tools.cniexec.results import ChainResult, PluginRun, VersionInfo
from tools.cniexec.runtime_conf import RuntimeConf

LATEST_SPEC_VERSION = "1.1.0"

logger = logging.getLogger("tools.cniexec")


@dataclass(frozen=True)
class RuntimeSettings:
    """Where plugins and the result cache live, and where plugins run.

    exec_netns: the network namespace (name or path) plugins are started
    from, i.e. the node's; None runs them in the caller's namespace.
    """

    bin_dirs: tuple[str, ...]
    cache_dir: Path
    exec_netns: str | None = None
    plugin_timeout: float = 60.0


class CniRuntime:
    def __init__(self, settings: RuntimeSettings) -> None:
        self.settings = settings
        self.cache = ResultCache(settings.cache_dir)

    def add(self, conflist: NetworkConfigList, conf: RuntimeConf) -> ChainResult:
        conf.validate()
        started = time.perf_counter()
        runs: list[PluginRun] = []
        prev_result: Mapping[str, Any] | None = None
        for plugin in conflist.plugins:
            output = self._invoke("ADD", conflist, plugin, conf, prev_result, runs)
            if output is None:
                raise PluginError(
                    str(plugin["type"]), "ADD", None, "empty result", runs=tuple(runs)
                )
            prev_result = output
        assert prev_result is not None
        self.cache.store(
            CachedAttachment(
                network_name=conflist.name,
                container_id=conf.container_id,
                ifname=conf.ifname,
                netns=conf.netns,
                cni_args=conf.cni_args,
                capability_args=dict(conf.capability_args),
                result=dict(prev_result),
            )
        )
        return self._finish("ADD", dict(prev_result), runs, started)

    def delete(self, conflist: NetworkConfigList, conf: RuntimeConf) -> ChainResult:
        """DEL in reverse order. Capability args fall back to the cached ADD's."""
        conf.validate()
        started = time.perf_counter()
        cached = self.cache.load(conflist.name, conf.container_id, conf.ifname)
        if not conf.capability_args and cached is not None:
            conf = RuntimeConf(
                conf.container_id, conf.netns, conf.ifname, conf.args, cached.capability_args
            )
        prev_result = None
        if cached is not None and version_at_least(conflist.cni_version, "0.4.0"):
            prev_result = cached.result
        runs: list[PluginRun] = []
        for plugin in reversed(conflist.plugins):
            self._invoke("DEL", conflist, plugin, conf, prev_result, runs)
        self.cache.remove(conflist.name, conf.container_id, conf.ifname)
        return self._finish("DEL", None, runs, started)

    def check(self, conflist: NetworkConfigList, conf: RuntimeConf) -> ChainResult:
        conf.validate()
        if not version_at_least(conflist.cni_version, "0.4.0"):
            raise UnsupportedCommandError(
                f"cniVersion {conflist.cni_version} does not support CHECK"
            )
        started = time.perf_counter()
        runs: list[PluginRun] = []
        if conflist.disable_check:
            return self._finish("CHECK", None, runs, started)
        cached = self.cache.load(conflist.name, conf.container_id, conf.ifname)
        if cached is None:
            raise CacheMissError(
                f"no cached result for {conflist.name}/{conf.container_id}/{conf.ifname}"
            )
        for plugin in conflist.plugins:
            self._invoke("CHECK", conflist, plugin, conf, cached.result, runs)
        return self._finish("CHECK", None, runs, started)

    def status(self, conflist: NetworkConfigList) -> ChainResult:
        if not version_at_least(conflist.cni_version, "1.1.0"):
            raise UnsupportedCommandError(
                f"cniVersion {conflist.cni_version} does not support STATUS"
            )
        started = time.perf_counter()
        runs: list[PluginRun] = []
        empty = RuntimeConf(container_id="status", netns="", ifname="status")
        for plugin in conflist.plugins:
            self._invoke("STATUS", conflist, plugin, empty, None, runs, attachment_env=False)
        return self._finish("STATUS", None, runs, started)

    def version(self, plugin_type: str) -> VersionInfo:
        """libcni's probe: VERSION with dummy netns/ifname/path, empty container id."""
        executable = find_plugin(plugin_type, self.settings.bin_dirs)
        env = PluginEnv("VERSION", "", "dummy", "dummy", "", "dummy")
        stdin = f'{{"cniVersion":"{LATEST_SPEC_VERSION}"}}'.encode()
        output = exec_plugin(
            executable,
            plugin_type,
            env,
            stdin,
            self.settings.plugin_timeout,
            self.settings.exec_netns,
        )
        document = output.document or {}
        supported = document.get("supportedVersions")
        if not isinstance(supported, list):
            raise PluginError(plugin_type, "VERSION", None, "no supportedVersions in answer")
        return VersionInfo(
            plugin_type,
            str(document.get("cniVersion", "")),
            tuple(str(version) for version in supported),
        )

    def validate(self, conflist: NetworkConfigList) -> tuple[VersionInfo, ...]:
        """Probes every plugin; ConfigError unless all support the list's cniVersion."""
        infos = tuple(self.version(plugin_type) for plugin_type in conflist.plugin_types)
        for info in infos:
            if conflist.cni_version not in info.supported_versions:
                raise ConfigError(
                    f"plugin {info.plugin_type} does not support cniVersion "
                    f"{conflist.cni_version} (supports {', '.join(info.supported_versions)})"
                )
        return infos

    def cached_attachment(
        self, conflist: NetworkConfigList, container_id: str, ifname: str
    ) -> CachedAttachment | None:
        return self.cache.load(conflist.name, container_id, ifname)

    def _invoke(
        self,
        command: str,
        conflist: NetworkConfigList,
        plugin: Mapping[str, Any],
        conf: RuntimeConf,
        prev_result: Mapping[str, Any] | None,
        runs: list[PluginRun],
        attachment_env: bool = True,
    ) -> dict[str, Any] | None:
        plugin_type = str(plugin["type"])
        try:
            executable = find_plugin(plugin_type, self.settings.bin_dirs)
            if attachment_env:
                env = PluginEnv(
                    command,
                    conf.container_id,
                    conf.netns,
                    conf.ifname,
                    conf.cni_args,
                    ":".join(self.settings.bin_dirs),
                )
            else:
                env = PluginEnv(command, path=":".join(self.settings.bin_dirs))
            stdin = plugin_stdin(conflist, plugin, prev_result, conf.capability_args)
            output = exec_plugin(
                executable,
                plugin_type,
                env,
                stdin,
                self.settings.plugin_timeout,
                self.settings.exec_netns,
            )
        except PluginError as error:
            runs.extend(error.runs)
            raise error.with_runs(tuple(runs)) from error
        runs.append(output.run)
        log_event(
            logger,
            "cni_plugin_finished",
            logging.DEBUG,
            command=command,
            plugin=plugin_type,
            container_id=conf.container_id,
            seconds=round(output.run.wall_seconds, 4),
        )
        return output.document

    @staticmethod
    def _finish(
        command: str, result: dict[str, Any] | None, runs: list[PluginRun], started: float
    ) -> ChainResult:
        return ChainResult(command, result, tuple(runs), time.perf_counter() - started)
