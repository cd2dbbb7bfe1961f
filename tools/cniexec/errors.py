"""The exception tree of the CNI runtime library.

Everything cniexec raises derives from CniExecError, so callers can catch one
type at their edge.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tools.cniexec.results import PluginRun


class CniExecError(Exception):
    """Base class of every error raised by tools.cniexec."""


class ConfigError(CniExecError):
    """The network configuration list could not be loaded or is invalid."""


class InvalidRuntimeConfError(CniExecError):
    """Container id, interface name or CNI_ARGS fail libcni's validation."""


class PluginNotFoundError(CniExecError):
    def __init__(self, plugin_type: str, bin_dirs: tuple[str, ...]) -> None:
        super().__init__(f"plugin {plugin_type!r} not found in {':'.join(bin_dirs)}")
        self.plugin_type = plugin_type
        self.bin_dirs = bin_dirs


class CacheMissError(CniExecError):
    """CHECK needs the cached ADD result and there is none."""


class UnsupportedCommandError(CniExecError):
    """The configuration's cniVersion does not define the requested command."""


class PluginError(CniExecError):
    """A plugin exited non-zero (or printed something that is not a result).

    code/msg/details come from the CNI error JSON the plugin printed; code is
    None when the plugin printed no decodable error. runs holds the timing of
    every plugin invocation of the chain up to and including the failed one.
    """

    def __init__(
        self,
        plugin_type: str,
        command: str,
        code: int | None,
        msg: str,
        details: str = "",
        stderr: str = "",
        runs: tuple[PluginRun, ...] = (),
    ) -> None:
        shown = f"code {code}" if code is not None else "no CNI error"
        super().__init__(f"{plugin_type} {command} failed ({shown}): {msg}")
        self.plugin_type = plugin_type
        self.command = command
        self.code = code
        self.msg = msg
        self.details = details
        self.stderr = stderr
        self.runs = runs

    def with_runs(self, runs: tuple[PluginRun, ...]) -> PluginError:
        return PluginError(
            self.plugin_type, self.command, self.code, self.msg, self.details, self.stderr, runs
        )


class PluginTimeoutError(PluginError):
    """The plugin did not finish within the runtime's timeout and was killed."""
