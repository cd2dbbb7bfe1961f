"""A minimal CNI runtime library that executes configuration lists like libcni."""

from tools.cniexec.cache import CachedAttachment, ResultCache
from tools.cniexec.conflist import NetworkConfigList, load_conflist, parse_conflist
from tools.cniexec.errors import (
    CacheMissError,
    CniExecError,
    ConfigError,
    InvalidRuntimeConfError,
    PluginError,
    PluginNotFoundError,
    PluginTimeoutError,
    UnsupportedCommandError,
)
from tools.cniexec.namespace import call_in_netns
from tools.cniexec.results import ChainResult, PluginRun, VersionInfo
from tools.cniexec.runtime import CniRuntime, RuntimeSettings
from tools.cniexec.runtime_conf import RuntimeConf, kubernetes_pod_args

__all__ = [
    "CacheMissError",
    "CachedAttachment",
    "ChainResult",
    "CniExecError",
    "CniRuntime",
    "ConfigError",
    "InvalidRuntimeConfError",
    "NetworkConfigList",
    "PluginError",
    "PluginNotFoundError",
    "PluginRun",
    "PluginTimeoutError",
    "ResultCache",
    "RuntimeConf",
    "RuntimeSettings",
    "UnsupportedCommandError",
    "VersionInfo",
    "call_in_netns",
    "kubernetes_pod_args",
    "load_conflist",
    "parse_conflist",
]
