"""deploy/monitoring: the alert rules pass promtool's checks and unit tests, every
dashboard query is valid PromQL, and every metric they name is one the daemons export."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from netagent.metrics import AgentMetrics
from tests.deploy.rendering import KUBERNETES, find, kustomize, pod_spec

MONITORING = Path(__file__).resolve().parents[2] / "deploy" / "monitoring"
IPAMD_SOURCES = Path(__file__).resolve().parents[2] / "ipamd"
REQUIRED_ALERTS = {
    "PodnetIpamdUnavailable",  # ipamd down
    "PodnetRangePoolNearlyExhausted",
    "PodnetNodeFenced",
    "PodnetSpoolGrowing",
    "PodnetCniAddSlow",  # ADD p99 over budget
}
_METRIC = re.compile(r"\bpodnet_[a-z0-9_]+\b")


def _promtool(*args: str, cwd: Path = MONITORING) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["promtool", *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=60
    )


def _alerts() -> list[dict[str, Any]]:
    groups = yaml.safe_load((MONITORING / "podnet-alerts.yaml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def _dashboard_queries() -> list[str]:
    dashboard = json.loads((MONITORING / "podnet-dashboard.json").read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def test_alert_rules_check() -> None:
    done = _promtool("check", "rules", "podnet-alerts.yaml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(_alerts())} rules found" in done.stdout


def test_every_alert_fires_in_the_rule_unit_tests() -> None:
    names = {rule["alert"] for rule in _alerts()}
    assert names >= REQUIRED_ALERTS
    cases = yaml.safe_load((MONITORING / "podnet-alerts.test.yaml").read_text())["tests"]
    firing = {
        check["alertname"]
        for case in cases
        for check in case["alert_rule_test"]
        if check["exp_alerts"]
    }
    assert firing == names
    done = _promtool("test", "rules", "podnet-alerts.test.yaml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_rule_unit_tests_can_fail(tmp_path: Path) -> None:
    rules = (MONITORING / "podnet-alerts.yaml").read_text().replace("> 0.9", "> 0.95")
    (tmp_path / "podnet-alerts.yaml").write_text(rules)
    test_file = tmp_path / "podnet-alerts.test.yaml"
    test_file.write_text((MONITORING / "podnet-alerts.test.yaml").read_text())
    done = _promtool("test", "rules", test_file.name, cwd=tmp_path)
    assert done.returncode != 0
    assert "PodnetRangePoolNearlyExhausted" in done.stdout + done.stderr


def test_prometheus_example_config_checks() -> None:
    done = _promtool("check", "config", "prometheus.yml")
    assert done.returncode == 0, done.stdout + done.stderr


def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    queries = _dashboard_queries()
    assert len(queries) >= 10
    rules = [
        {
            "record": f"podnet:dashboard_query_{index}",
            "expr": query.replace("$__rate_interval", "5m").replace("$instance", ".*"),
        }
        for index, query in enumerate(queries)
    ]
    (tmp_path / "queries.yaml").write_text(
        yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]})
    )
    done = _promtool("check", "rules", "queries.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


def test_dashboard_panels_are_well_formed() -> None:
    dashboard = json.loads((MONITORING / "podnet-dashboard.json").read_text())
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    assert variables == {"datasource", "instance"}
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}"


def _agent_metric_names() -> set[str]:
    names: set[str] = set()
    for family in AgentMetrics().registry.collect():
        names.add(family.name)
        names |= {sample.name for sample in family.samples}
    for name in list(names):  # histograms export their series once observed
        names |= {f"{name}_bucket", f"{name}_count", f"{name}_sum"}
    return names


@pytest.mark.parametrize(
    "source", ["podnet-alerts.yaml", "podnet-dashboard.json", "podnet-alerts.test.yaml"]
)
def test_metric_names_are_exported_by_the_daemons(source: str) -> None:
    used = set(_METRIC.findall((MONITORING / source).read_text()))
    assert used
    agent = _agent_metric_names()
    ipamd_code = "\n".join(p.read_text() for p in IPAMD_SOURCES.rglob("*.py"))
    unknown = {
        name
        for name in used - agent
        if not (name.startswith("podnet_ipamd_") and f'"{name}"' in ipamd_code)
    }
    assert not unknown, f"{source} names metrics no daemon exports: {sorted(unknown)}"


def test_kubernetes_scrape_jobs_match_the_manifests() -> None:
    config = yaml.safe_load((MONITORING / "prometheus-kubernetes.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {"podnet-agent", "podnet-ipamd"}
    docs = kustomize(KUBERNETES / "overlays" / "external-etcd")
    workloads = {
        "podnet-agent": find(docs, "DaemonSet", "podnet-agent"),
        "podnet-ipamd": find(docs, "Deployment", "podnet-ipamd"),
    }
    for job_name, workload in workloads.items():
        keep = next(
            rule
            for rule in jobs[job_name]["relabel_configs"]
            if rule.get("action") == "keep"
            and rule["source_labels"] == ["__meta_kubernetes_pod_label_app_kubernetes_io_name"]
        )
        template = workload["spec"]["template"]
        assert re.fullmatch(keep["regex"], template["metadata"]["labels"]["app.kubernetes.io/name"])
        port = int(template["metadata"]["annotations"]["prometheus.io/port"])
        container = pod_spec(workload)["containers"][0]
        assert {"name": "http", "containerPort": port, "protocol": "TCP"} in container["ports"]
