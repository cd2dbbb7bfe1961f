"""The import layering of docs/architecture.md, read from the source tree's syntax alone.

Every import statement counts, wherever it stands (inside functions too). A module's
layer is where its file lies; the pure modules are named below.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
LAYER_DIRS = {
    "podnet": ROOT / "proto" / "podnet",
    "cni_shim": ROOT / "cni_shim",
    "netagent": ROOT / "netagent",
    "ipamd": ROOT / "ipamd",
    "tools": ROOT / "tools",
    "tests": ROOT / "tests",
    "scripts": ROOT / "scripts",
}
EVERY_LAYER = frozenset(LAYER_DIRS)
# Which of podnet's layers each layer may import (itself included).
MAY_IMPORT = {
    "podnet": {"podnet"},
    "cni_shim": {"cni_shim", "podnet"},
    "netagent": {"netagent", "podnet"},
    "ipamd": {"ipamd", "podnet"},
    "tools": {"tools", "podnet", "cni_shim", "netagent", "ipamd"},
    "tests": EVERY_LAYER,
    "scripts": EVERY_LAYER,
}
# Libraries that do I/O: a pure module never imports them, nor anything impure.
IO_LIBRARIES = frozenset(
    {"grpc", "grpc_health", "grpc_reflection", "google", "aiohttp", "pyroute2", "aetcd"}
    | {"prometheus_client"}
)
PURE_PACKAGES = ("cni_shim", "netagent.cni", "podnet.shim")
PURE_MODULES = frozenset(
    {
        "podnet.cli",
        "podnet.logs",
        "podnet.tls.paths",
        "podnet.tls.errors",
        "podnet.tls.identity",
        "netagent.mtu",
        "netagent.errors",
        "netagent.dataplane.attachment_check",
        "netagent.dataplane.config",
        "netagent.dataplane.errors",
        "netagent.dataplane.host_port_rules",
        "netagent.dataplane.masquerade_rules",
        "netagent.dataplane.model",
        "netagent.dataplane.naming",
        "netagent.dataplane.route_diff",
        "ipamd.address_pool",
        "ipamd.addressing",
        "ipamd.authorization",
        "ipamd.config",
        "ipamd.errors",
        "ipamd.keys",
        "ipamd.limits",
        "ipamd.records",
    }
)


@dataclass(frozen=True)
class Module:
    name: str  # dotted, e.g. netagent.cni.request (scripts.bench.x for scripts)
    layer: str
    path: Path
    is_package: bool

    @property
    def is_pure(self) -> bool:
        return self.name in PURE_MODULES or any(
            self.name == package or self.name.startswith(package + ".") for package in PURE_PACKAGES
        )


def source_modules() -> dict[str, Module]:
    modules: dict[str, Module] = {}
    for layer, directory in LAYER_DIRS.items():
        for path in sorted(directory.rglob("*.py")):
            parts = list(path.relative_to(directory).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            if is_package:
                parts.pop()
            name = ".".join([layer, *parts])
            modules[name] = Module(name, layer, path, is_package)
    return modules


def imported_names(module: Module, source: str, modules: dict[str, Module]) -> Iterator[str]:
    """Dotted names of the modules the module imports: `from a import b` imports a.b when
    that is a module, else a."""
    for node in ast.walk(ast.parse(source, str(module.path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.name.split(".")
                if not module.is_package:
                    package.pop()
                package = package[: len(package) - node.level + 1]
                base = ".".join([*package, base] if base else package)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                yield submodule if submodule in modules else base


def layering_problems(module: Module, source: str, modules: dict[str, Module]) -> Iterator[str]:
    for name in imported_names(module, source, modules):
        top = name.split(".")[0]
        where = f"{module.path.relative_to(ROOT)} imports {name}"
        if top in EVERY_LAYER and top not in MAY_IMPORT[module.layer]:
            yield f"{where}: {module.layer} may not import {top}"
        shim_outside = module.layer == "cni_shim" and top not in EVERY_LAYER
        if shim_outside and top not in sys.stdlib_module_names:
            yield f"{where}: the shim uses the standard library and podnet only"
        if module.is_pure:
            if top in IO_LIBRARIES:
                yield f"{where}: a pure module imports no I/O library"
            imported = modules.get(name)
            if imported is not None and not imported.is_pure:
                yield f"{where}: a pure module imports only pure modules"


def test_the_source_tree_keeps_the_layering() -> None:
    modules = source_modules()
    assert {m.layer for m in modules.values()} == EVERY_LAYER
    problems = [
        problem
        for module in modules.values()
        for problem in layering_problems(module, module.path.read_text(), modules)
    ]
    assert problems == []


def test_every_named_pure_module_exists() -> None:
    modules = source_modules()
    assert modules.keys() >= PURE_MODULES
    assert all(package in modules for package in PURE_PACKAGES)


@pytest.mark.parametrize(
    ("module", "source", "problem"),
    [
        ("podnet.logs", "import netagent.errors", "podnet may not import netagent"),
        ("cni_shim.main", "from podnet.v1 import cni_pb2", "pure module imports only pure"),
        ("cni_shim.main", "import yaml", "standard library and podnet only"),
        ("netagent.agent", "from ipamd import records", "netagent may not import ipamd"),
        ("netagent.agent", "from tools.lab import cli", "netagent may not import tools"),
        ("ipamd.server", "import cni_shim.install", "ipamd may not import cni_shim"),
        ("tools.lab.cli", "import tests.conftest", "tools may not import tests"),
        ("netagent.cni.request", "import grpc", "imports no I/O library"),
        ("netagent.cni.result", "from ..ipam_client import NodeRange", "only pure modules"),
        ("netagent.dataplane.model", "from . import rtnl", "only pure modules"),
        ("ipamd.records", "from ipamd.store import EtcdStore", "only pure modules"),
    ],
)
def test_the_check_finds_a_wrong_import(module: str, source: str, problem: str) -> None:
    modules = source_modules()
    problems = list(layering_problems(modules[module], source, modules))
    assert any(problem in found for found in problems), problems


def test_allowed_imports_are_not_flagged() -> None:
    modules = source_modules()
    allowed = [
        ("tools.lab.options", "from netagent.mtu import MIN_MTU"),
        ("netagent.cni.request", "from netagent.mtu import MIN_MTU"),
        ("netagent.dataplane.model", "from .errors import InvalidPodNetworkSpec"),
        ("netagent.dataplane.model", "from . import naming"),
        ("tests.test_layering", "import tools.lab.cli"),
        ("scripts.bench_shim", "from cni_shim.install import install_native_shim"),
    ]
    for module, source in allowed:
        assert list(layering_problems(modules[module], source, modules)) == [], source
