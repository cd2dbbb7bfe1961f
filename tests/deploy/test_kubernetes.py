"""deploy/kubernetes: every overlay renders, every built-in document is valid against the
published schemas of three Kubernetes minor versions, the command lines are ones the
daemons accept, and the choices the manifests make (host paths, capabilities, probes,
bootstrap tolerations) hold in every rendering."""

from __future__ import annotations

import argparse
import contextlib
import io
import subprocess
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from kubernetes_validate.utils import all_versions, major_minor

from cni_shim.install import build_parser as install_shim_parser
from ipamd.main import config_from_args as ipamd_config
from netagent.config import parse_config as agent_config
from tests.deploy.rendering import (
    PODNET_IMAGE,
    CommandLine,
    Document,
    command_lines,
    config_map,
    find,
    is_custom_resource,
    pod_spec,
    renderings,
)

AGENT_CAPABILITIES = {"NET_ADMIN", "SYS_ADMIN", "SYS_PTRACE"}


@cache
def rendered() -> dict[str, list[Document]]:
    return renderings()


def _minor_versions() -> list[str]:
    """The newest Kubernetes minor version kubernetes-validate ships, and the two before."""
    minors = sorted(
        {major_minor(v) for v in all_versions()}, key=lambda v: tuple(map(int, v.split(".")))
    )
    return minors[-3:]


def _document_params() -> Iterator[Any]:
    for name, docs in rendered().items():
        for doc in docs:
            yield pytest.param(doc, id=f"{name}:{doc['kind']}/{doc['metadata']['name']}")


def test_three_schema_versions_are_covered() -> None:
    versions = _minor_versions()
    assert len(versions) == 3
    assert tuple(map(int, versions[-1].split("."))) >= (1, 35)


@pytest.mark.parametrize("version", _minor_versions())
@pytest.mark.parametrize("doc", list(_document_params()))
def test_documents_are_valid_kubernetes_objects(doc: Document, version: str) -> None:
    if is_custom_resource(doc):
        assert doc["kind"] in {"Issuer", "Certificate"}
        pytest.skip(f"{doc['apiVersion']} is a CRD, not in Kubernetes' published schemas")
    assert kubernetes_validate.validate(doc, version, strict=True) == version


def test_every_rendering_has_the_podnet_workloads() -> None:
    for name, docs in rendered().items():
        if name == "secrets.example":
            continue
        kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
        assert {
            ("Namespace", "podnet-system"),
            ("DaemonSet", "podnet-agent"),
            ("Deployment", "podnet-ipamd"),
            ("Service", "podnet-ipamd"),
            ("PodDisruptionBudget", "podnet-ipamd"),
        } <= kinds, name
        namespaced = [d for d in docs if d["kind"] != "Namespace"]
        assert {d["metadata"].get("namespace") for d in namespaced} == {"podnet-system"}, name


def test_no_kubernetes_api_access() -> None:
    """podnet never calls the Kubernetes API: no RBAC, no service account token."""
    for name, docs in rendered().items():
        kinds = {d["kind"] for d in docs}
        assert not kinds & {"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}, name
        for workload in docs:
            if workload["kind"] in ("Deployment", "DaemonSet", "StatefulSet"):
                assert pod_spec(workload)["automountServiceAccountToken"] is False


# Command lines: what the kubelet would run must parse with the daemons' own parsers.


def _parse_or_fail(parse: Callable[[list[str]], object], line: CommandLine) -> None:
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            parse(line.argv[1:])
    except SystemExit as error:
        pytest.fail(
            f"{line.workload}/{line.container}: {line.argv[0]} refused its arguments "
            f"(exit {error.code}): {stderr.getvalue().strip()}"
        )


def _parse_install_shim(args: list[str]) -> argparse.Namespace:
    return install_shim_parser().parse_args(args)


PARSERS: dict[str, Callable[[list[str]], object]] = {
    "podnet-agent": agent_config,
    "podnet-ipamd": ipamd_config,
    "podnet-install-shim": _parse_install_shim,
}


@cache
def _etcd_flags() -> frozenset[str]:
    """Flags of Debian's etcd (3.4): the manifests' etcd must not need anything newer."""
    done = subprocess.run(["etcd", "--help"], capture_output=True, text=True, check=False)
    text = done.stdout + done.stderr
    return frozenset(word.split("=")[0] for word in text.split() if word.startswith("--"))


def _line_params() -> Iterator[Any]:
    for name, docs in rendered().items():
        for line in command_lines(docs):
            yield pytest.param(line, id=f"{name}:{line.workload}/{line.container}")


@pytest.mark.parametrize("line", list(_line_params()))
def test_command_lines_are_accepted(line: CommandLine) -> None:
    assert not any("$(" in part for part in line.argv), f"unresolved variable in {line.argv}"
    if line.image.startswith(PODNET_IMAGE):
        assert line.program in PARSERS, line.program
        _parse_or_fail(PARSERS[line.program], line)
    else:
        assert line.program == "etcd", line.program
        unknown = {a.split("=")[0] for a in line.argv[1:]} - _etcd_flags()
        assert not unknown, f"etcd does not know {sorted(unknown)}"


def test_a_wrong_flag_would_be_caught() -> None:
    line = CommandLine("w", "c", PODNET_IMAGE, ["podnet-agent", "--node-name=a", "--no-such-flag"])
    with pytest.raises(pytest.fail.Exception, match="refused its arguments"):
        _parse_or_fail(agent_config, line)


# The agent DaemonSet.


def _agent(docs: list[Document]) -> tuple[Document, Document]:
    daemonset = find(docs, "DaemonSet", "podnet-agent")
    spec = pod_spec(daemonset)
    (container,) = (c for c in spec["containers"] if c["name"] == "agent")
    return daemonset, container


def _line_of(docs: list[Document], container: str) -> CommandLine:
    (line,) = (line for line in command_lines(docs) if line.container == container)
    return line


def _agent_line(docs: list[Document]) -> CommandLine:
    return _line_of(docs, "agent")


def _flag(line: CommandLine, name: str) -> str:
    values = [a.split("=", 1)[1] for a in line.argv if a.startswith(f"{name}=")]
    assert len(values) == 1, f"{name} in {line.argv}"
    return values[0]


def _podnet_rendering_params() -> Iterator[Any]:
    for name in rendered():
        if name != "secrets.example":
            yield pytest.param(name, id=name)


@pytest.mark.parametrize("name", list(_podnet_rendering_params()))
def test_agent_runs_on_every_node_in_the_host_namespaces(name: str) -> None:
    daemonset, container = _agent(rendered()[name])
    spec = pod_spec(daemonset)
    assert spec["hostNetwork"] is True and spec["hostPID"] is True
    assert spec["priorityClassName"] == "system-node-critical"
    assert {"operator": "Exists"} in spec["tolerations"]
    rolling = daemonset["spec"]["updateStrategy"]
    assert rolling["type"] == "RollingUpdate"
    assert rolling["rollingUpdate"] == {"maxUnavailable": 1, "maxSurge": 0}
    security = container["securityContext"]
    assert security.get("privileged") is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert set(security["capabilities"]["add"]) == AGENT_CAPABILITIES
    env = {e["name"] for e in container["env"]}
    assert {"NODE_NAME", "NODE_IP"} <= env


@pytest.mark.parametrize("name", list(_podnet_rendering_params()))
def test_agent_paths_are_the_hosts_own(name: str) -> None:
    """The conflist the agent writes names its socket and spool dir for the shim on the
    host: each must be mounted from the host at the very same path."""
    docs = rendered()[name]
    daemonset, container = _agent(docs)
    line = _agent_line(docs)
    host_paths = {
        v["name"]: v["hostPath"]["path"] for v in pod_spec(daemonset)["volumes"] if "hostPath" in v
    }
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    needed = [
        str(Path(_flag(line, "--socket")).parent),
        _flag(line, "--spool-dir"),
        _flag(line, "--cni-conf-dir"),
        "/run/netns",
    ]
    for path in needed:
        assert path in mounts, f"{path} not mounted"
        assert host_paths[mounts[path]["name"]] == path
    assert mounts["/run/netns"]["mountPropagation"] == "HostToContainer"
    (install,) = pod_spec(daemonset)["initContainers"]
    (bin_mount,) = install["volumeMounts"]
    assert host_paths[bin_mount["name"]] == "/opt/cni/bin"
    install_line = _line_of(docs, "install-shim")
    assert _flag(install_line, "--bin-dir") == bin_mount["mountPath"]
    for flag in ("--tls-cert", "--tls-key", "--tls-ca"):
        assert any(_flag(line, flag).startswith(p + "/") for p in mounts), flag


@pytest.mark.parametrize("name", list(_podnet_rendering_params()))
def test_probes_reach_the_ports_the_daemons_listen_on(name: str) -> None:
    docs = rendered()[name]
    _, agent = _agent(docs)
    line = _agent_line(docs)
    host, port = _flag(line, "--http-listen").rsplit(":", 1)
    assert host == "192.0.2.11"  # the node IP: where the kubelet probes a host-network pod
    _assert_probes(agent, int(port))

    ipamd = pod_spec(find(docs, "Deployment", "podnet-ipamd"))["containers"][0]
    ipamd_line = _line_of(docs, "ipamd")
    _assert_probes(ipamd, int(_flag(ipamd_line, "--http-port")))
    grpc_port = int(_flag(ipamd_line, "--listen").rsplit(":", 1)[1])
    ports = {p["name"]: p["containerPort"] for p in ipamd["ports"]}
    assert ports["grpc"] == grpc_port
    service = find(docs, "Service", "podnet-ipamd")
    assert {"grpc", "http"} == {p["targetPort"] for p in service["spec"]["ports"]}
    assert _flag(line, "--ipamd").endswith(f":{grpc_port}")


def _assert_probes(container: Document, port: int) -> None:
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["http"] == port
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}


@pytest.mark.parametrize("name", list(_podnet_rendering_params()))
def test_ipamd_is_redundant_and_can_start_before_pod_networking(name: str) -> None:
    docs = rendered()[name]
    deployment = find(docs, "Deployment", "podnet-ipamd")
    spec = pod_spec(deployment)
    assert deployment["spec"]["replicas"] >= 2
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    (term,) = spec["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    assert term["labelSelector"]["matchLabels"].items() <= labels.items()
    pdb = find(docs, "PodDisruptionBudget", "podnet-ipamd")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert find(docs, "Service", "podnet-ipamd")["spec"]["selector"].items() <= labels.items()
    # Pods get networking from podnet: its control plane cannot wait for it.
    assert spec["hostNetwork"] is True and spec["dnsPolicy"] == "Default"
    tolerated = {t["key"] for t in spec["tolerations"]}
    assert "node.kubernetes.io/not-ready" in tolerated
    container = spec["containers"][0]
    assert container["resources"]["requests"]
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert spec["securityContext"]["runAsNonRoot"] is True


def test_in_cluster_etcd_matches_ipamd_endpoints() -> None:
    docs = rendered()["etcd-statefulset"]
    statefulset = find(docs, "StatefulSet", "podnet-etcd")
    assert statefulset["spec"]["replicas"] == 3
    assert statefulset["spec"]["podManagementPolicy"] == "Parallel"
    initial = config_map(docs, "podnet-etcd")["ETCD_INITIAL_CLUSTER"]
    peers = dict(member.split("=", 1) for member in initial.split(","))
    assert len(peers) == 3
    peer_ips = {url.removeprefix("https://").rsplit(":", 1)[0] for url in peers.values()}
    endpoints = config_map(docs, "podnet-config")["ETCD_ENDPOINTS"].split(",")
    assert {e.rsplit(":", 1)[0] for e in endpoints} == peer_ips
    etcd_line = _line_of(docs, "etcd")
    client_port = _flag(etcd_line, "--advertise-client-urls").rsplit(":", 1)[1]
    assert {e.rsplit(":", 1)[1] for e in endpoints} == {client_port}
    for flag in ("--client-cert-auth", "--peer-client-cert-auth"):
        assert _flag(etcd_line, flag) == "true"
    pdb = find(docs, "PodDisruptionBudget", "podnet-etcd")
    assert pdb["spec"]["maxUnavailable"] == 1


def test_host_pki_component_mounts_only_the_nodes_own_files() -> None:
    docs = rendered()["external-etcd+host-pki"]
    daemonset, _ = _agent(docs)
    volumes = {v["name"]: v for v in pod_spec(daemonset)["volumes"]}
    assert "node-certs" not in volumes and "ca" not in volumes
    assert volumes["host-pki"]["hostPath"]["path"] == "/etc/podnet/pki"
    line = _agent_line(docs)
    assert _flag(line, "--tls-cert") == "/etc/podnet/pki/node.crt"
    assert _flag(line, "--tls-ca") == "/etc/podnet/pki/ca.crt"


def test_cert_manager_issues_the_secrets_the_base_mounts() -> None:
    docs = rendered()["cert-manager"]
    issued = {d["spec"]["secretName"] for d in docs if d["kind"] == "Certificate"}
    mounted = set()
    for workload in docs:
        if workload["kind"] in ("Deployment", "DaemonSet", "StatefulSet"):
            mounted |= {
                v["secret"]["secretName"] for v in pod_spec(workload)["volumes"] if "secret" in v
            }
    assert {"podnet-ipamd-tls", "podnet-etcd-client", "podnet-etcd-member"} <= issued
    assert {"podnet-ipamd-tls", "podnet-etcd-client", "podnet-etcd-member"} <= mounted
    # Node certificates and the CA stay with the operator (docs/deploy.md).
    assert not issued & {"podnet-node-certs", "podnet-ca"}
    example = {d["metadata"]["name"] for d in rendered()["secrets.example"]}
    assert mounted <= example
    # Agents dial the Service's cluster IP and check it against ipamd's certificate;
    # ipamd dials the etcd members by node IP.
    ipamd_cert = find(docs, "Certificate", "podnet-ipamd-tls")
    assert (
        find(docs, "Service", "podnet-ipamd")["spec"]["clusterIP"]
        in ipamd_cert["spec"]["ipAddresses"]
    )
    member_cert = find(docs, "Certificate", "podnet-etcd-member")
    endpoints = config_map(docs, "podnet-config")["ETCD_ENDPOINTS"].split(",")
    assert {e.rsplit(":", 1)[0] for e in endpoints} <= set(member_cert["spec"]["ipAddresses"])
    peer_hostname = config_map(docs, "podnet-etcd")["ETCD_PEER_HOSTNAME"]
    assert peer_hostname in member_cert["spec"]["dnsNames"]
    for cert in (d for d in docs if d["kind"] == "Certificate"):
        assert cert["spec"]["issuerRef"] == {"kind": "Issuer", "name": "podnet-ca"}
        (uri,) = cert["spec"]["uris"]
        assert uri.startswith("spiffe://podnet.local/")
