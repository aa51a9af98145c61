"""The Grafana dashboard and the Prometheus alerts name only metrics we export, and the
alerts are valid and fire when they should (promtool, installed by `make unit-deps`)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from ari_app.metrics import Metrics

MONITORING = Path(__file__).resolve().parents[2] / "monitoring"
DASHBOARD = MONITORING / "grafana-dashboard.json"
ALERTS = MONITORING / "alerts.yml"
ALERTS_TEST = MONITORING / "alerts_test.yml"
METRIC_NAME = re.compile(r"\bari_app_[A-Za-z0-9_]*")
# The sample names prometheus_client exposes for a family, by its type.
SUFFIXES = {"counter": ("_total", "_created"), "gauge": ("",),
            "histogram": ("_bucket", "_sum", "_count", "_created"),
            "summary": ("", "_sum", "_count", "_created"), "info": ("_info",)}


def exported_names() -> set[str]:
    """Every series name /metrics can show. From the families, not the samples: a labelled
    metric has no sample until its first label set is used."""
    names = set()
    for family in Metrics().registry.collect():
        names.update(family.name + suffix for suffix in SUFFIXES[family.type])
    return names


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel but rows, including those inside collapsed rows."""
    found = []
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            found += panel.get("panels", [])
        else:
            found.append(panel)
    return found


def dashboard_expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [target["expr"] for panel in panels(dashboard) for target in panel["targets"]]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            exprs.append(query["query"] if isinstance(query, dict) else query)
    return exprs


def alert_expressions() -> list[str]:
    rules = yaml.safe_load(ALERTS.read_text())
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool not found: it comes with the Debian package `prometheus`, "
                    "which `make unit-deps` installs (apt-get install prometheus)")
    return subprocess.run([path, *args], capture_output=True, text=True, timeout=60,
                          check=False)


def test_alert_rules_are_valid() -> None:
    result = promtool("check", "rules", str(ALERTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_alerts_fire_on_outages_and_stay_silent_when_healthy() -> None:
    result = promtool("test", "rules", str(ALERTS_TEST))
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_rules_have_severity_and_annotations_without_numbers() -> None:
    rules = [rule for group in yaml.safe_load(ALERTS.read_text())["groups"]
             for rule in group["rules"]]
    assert len(rules) >= 6
    for rule in rules:
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
        assert "for" in rule, rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        text = " ".join(rule["annotations"].values())
        # Numbers, prefixes and codes live in labels we never print in an alert.
        assert not re.search(r"\$labels\.(prefix|to|number|code)\b", text), rule["alert"]
        assert not re.search(r"\d{5,}", text), rule["alert"]


def test_every_dashboard_panel_has_a_query() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["schemaVersion"] >= 36
    found = panels(dashboard)
    assert len(found) >= 10
    for panel in found:
        assert panel["targets"], panel["title"]
        assert all(target["expr"].strip() for target in panel["targets"]), panel["title"]
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]


@pytest.mark.parametrize("source", ["dashboard", "alerts"])
def test_queries_name_only_exported_metrics(source: str) -> None:
    exprs = dashboard_expressions() if source == "dashboard" else alert_expressions()
    named = {name for expr in exprs for name in METRIC_NAME.findall(expr)}
    assert named, "no ari_app_ metric named at all: the extraction is broken"
    unknown = named - exported_names()
    assert not unknown, f"{source} names metrics that ari_app/metrics.py does not export: " \
                        f"{sorted(unknown)}"


def test_the_export_list_knows_the_suffixes() -> None:
    names = exported_names()
    assert {"ari_app_calls_total", "ari_app_answer_to_audio_seconds_bucket",
            "ari_app_queued_calls"} <= names
    assert "ari_app_calls" not in names
