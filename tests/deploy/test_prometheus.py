"""The stack's Prometheus (deploy/prometheus/): it scrapes every app and the worker with the
metrics token, its alert rules parse, and every rule names metrics the platform exports
(promtool is not here: the YAML is read and each expression's metric names are checked against
what shared/infrastructure/metrics.py and the worker's collector expose)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY

from shared.config import APP_NAMES, REPO_ROOT
from shared.infrastructure.operations import (
    GhostSyncRun,
    HostDeliveries,
    LastBackup,
    OperationsFigures,
    ScrapeSourceRun,
)
from shared.tooling.worker_metrics import OperationsCollector

CONFIG = REPO_ROOT / "deploy" / "prometheus" / "prometheus.yml"
ALERTS = REPO_ROOT / "deploy" / "prometheus" / "alerts.yml"
STACK = REPO_ROOT / "docker-compose.yml"
# Prometheus's own series and functions an expression may use.
PROMETHEUS_NAMES = {"up"}
WANTED_ALERTS = {
    "AppDown",
    "DeliveriesDead",
    "GhostSyncFailing",
    "BackupTooOld",
    "BackupNeverRecorded",
    "MediaErasureOverdue",
}


def exported_names() -> set[str]:
    """Every series name the apps and the worker expose (histograms with their suffixes)."""
    names: set[str] = set()
    for family in REGISTRY.collect():
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
    at = datetime(2026, 1, 1, tzinfo=UTC)
    collector = OperationsCollector(session_factory=None)  # type: ignore[arg-type]
    collector.figures = OperationsFigures(
        deliveries=[HostDeliveries("h", 1, 1, 1)],
        ghost_sync=GhostSyncRun(at, "x"),
        scrapes=[ScrapeSourceRun(1, "s", "failed", at, at)],
        backup=LastBackup(at, "rose-ash-20260101T000000Z", 1),
    )
    for family in collector.collect():
        names.add(family.name)
    # Counters are exposed with _total; histograms as _bucket, _count, _sum.
    for name in list(names):
        names.update({f"{name}_total", f"{name}_bucket", f"{name}_count", f"{name}_sum"})
    return names


def load(path: Any) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_every_app_and_the_worker_are_scraped_with_the_token() -> None:
    config = load(CONFIG)
    assert config["rule_files"] == ["/etc/prometheus/alerts.yml"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {*APP_NAMES, "worker"}
    for name, job in jobs.items():
        assert job["authorization"] == {
            "type": "Bearer",
            "credentials_file": "/run/secrets/rose_metrics_token",
        }, name
        # Every replica, not the service's one virtual address.
        (sd,) = job["dns_sd_configs"]
        assert sd == {"names": [f"tasks.{name}"], "type": "A", "port": 8000}, name
        assert job.get("metrics_path", "/metrics") == "/metrics"


def test_the_stack_runs_prometheus_with_these_files_and_the_token() -> None:
    stack = load(STACK)
    svc = stack["services"]["prometheus"]
    targets = {c["source"]: c["target"] for c in svc["configs"]}
    assert targets == {
        "prometheus_config": "/etc/prometheus/prometheus.yml",
        "prometheus_alerts": "/etc/prometheus/alerts.yml",
    }
    assert stack["configs"]["prometheus_config"]["file"] == "./deploy/prometheus/prometheus.yml"
    assert stack["configs"]["prometheus_alerts"]["file"] == "./deploy/prometheus/alerts.yml"
    assert svc["secrets"] == ["rose_metrics_token"]
    assert svc["networks"] == ["internal"]
    assert "ports" not in svc
    for name in (*APP_NAMES, "worker"):
        sources = stack["services"][name].get("secrets") or stack["x-app-secrets"]
        assert "rose_metrics_token" in sources, name


def rules() -> list[dict[str, Any]]:
    groups = load(ALERTS)["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_the_alert_rules_parse_and_say_what_they_watch() -> None:
    found = rules()
    assert {r["alert"] for r in found} >= WANTED_ALERTS
    for rule in found:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
        assert rule["labels"]["severity"] in ("warning", "critical")
        assert rule["annotations"]["summary"]
        if "for" in rule:
            assert re.fullmatch(r"\d+[smhd]", rule["for"]), rule
        expr = rule["expr"]
        assert expr.count("(") == expr.count(")"), rule["alert"]
        assert expr.count("{") == expr.count("}"), rule["alert"]


@pytest.mark.parametrize("rule", rules(), ids=lambda r: r["alert"])
def test_each_rule_names_metrics_we_export(rule: dict[str, Any]) -> None:
    exported = exported_names() | PROMETHEUS_NAMES
    expr = re.sub(r'"[^"]*"', '""', rule["expr"])  # label values are not names
    named = set(re.findall(r"\b(rose_ash_[a-z_]+|up)\b", expr))
    assert named, rule["alert"]
    assert named <= exported, named - exported
