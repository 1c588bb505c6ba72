"""Issue 19 with Debian's Prometheus: a real ``prometheus`` server started here (free
port, its own storage folder, stopped by its PID) scrapes a real daemon and loads the
shipped alert rules; ``promtool check rules`` accepts them; the shipped Grafana
dashboard is valid JSON and every metric its queries (and the rules) use is one the
endpoint serves.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.helpers import free_port, terminate, unavailable, wait_for
from tests.integration.conftest import ROOT
from tests.integration.test_metrics import Scraper, start

MONITORING = ROOT / "packaging" / "monitoring"
DASHBOARD = MONITORING / "hueyd-dashboard.json"
RULES = MONITORING / "hueyd-alerts.yml"
METRIC = re.compile(r"\bhueyd_[a-z_]+\b")


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        unavailable(f"{name} is not installed (Debian's prometheus package)")
    return path


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as reply:
        return json.load(reply)


@pytest.fixture
def prometheus(tmp_path: Path):
    """``prometheus(target)``: a Prometheus server scraping ``target`` every second,
    with the shipped rules; its API's base URL."""
    started: list[subprocess.Popen] = []

    def launch(target: str) -> str:
        port = free_port()
        config = tmp_path / "prometheus.yml"
        config.write_text(json.dumps({  # JSON is YAML
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(RULES)],
            "scrape_configs": [{"job_name": "hueyd", "static_configs": [
                {"targets": [target]}]}]}))
        log = open(tmp_path / "prometheus.log", "wb")
        started.append(subprocess.Popen(
            [tool("prometheus"), f"--config.file={config}",
             f"--storage.tsdb.path={tmp_path / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))
        log.close()
        base = f"http://127.0.0.1:{port}/api/v1"

        def ready() -> bool:
            assert started[-1].poll() is None, (tmp_path / "prometheus.log").read_text()
            try:
                return get_json(f"{base}/status/buildinfo")["status"] == "success"
            except OSError:
                return False
        wait_for(ready, 60, interval=0.2, message="prometheus to answer")
        return base

    yield launch
    for proc in started:
        terminate(proc, timeout=15)


def served_names(scrape: Scraper) -> set[str]:
    return {name for name, _ in scrape()}


def test_promtool_accepts_the_alert_rules():
    done = subprocess.run([tool("promtool"), "check", "rules", str(RULES)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 6 rules found" in done.stdout


def test_prometheus_scrapes_the_daemon_and_loads_the_rules(make_app, hueyd_proc, prometheus):
    app = make_app("redis", "prom")
    daemon, scrape = start(app, hueyd_proc, "-k", "process", "-w", "2")
    app.tasks.add(1, 2)
    app.tasks.fail("for the failure panels")
    wait_for(lambda: scrape.value("hueyd_tasks_total", task="fail", outcome="failed") == 1,
             30, message=lambda: f"both tasks counted in:\n{scrape.text}")
    base = prometheus(scrape.url.split("/")[2])

    def query(expression: str) -> list:
        url = f"{base}/query?query={urllib.parse.quote(expression)}"
        return get_json(url)["data"]["result"]
    found = wait_for(lambda: query('hueyd_tasks_total{outcome="completed",task="add"}'), 30,
                     interval=0.5, message="prometheus to hold a scraped sample")
    assert found[0]["metric"]["queue"] == "prom" and found[0]["value"][1] == "1"
    targets = get_json(f"{base}/targets")["data"]["activeTargets"]
    assert [t["health"] for t in targets] == ["up"], targets
    groups = get_json(f"{base}/rules")["data"]["groups"]
    rules = {r["name"]: r for g in groups for r in g["rules"]}
    assert set(rules) == {"HueydNoConsumerAlive", "HueydStorageDown", "HueydQueueGrowing",
                          "HueydOldestTaskTooOld", "HueydDeadLettersRising",
                          "HueydFailureRatioHigh"}
    assert all(r["health"] != "err" for r in rules.values()), rules
    # every query of the dashboard runs on this server's data without an error
    for expression in dashboard_queries(panels_only=True):
        plain = expression.replace("$__rate_interval", "1m").replace('=~"$queue"', '=~".*"')
        query(plain)
    assert daemon.running()


def dashboard_queries(panels_only: bool = False) -> list[str]:
    """The panels' PromQL, and (unless ``panels_only``) the variables' Grafana queries."""
    board = json.loads(DASHBOARD.read_text())
    queries = [t["expr"] for panel in board["panels"] for t in panel["targets"]]
    if not panels_only:
        queries += [v["definition"] for v in board["templating"]["list"] if "definition" in v]
    return queries


def test_the_dashboard_and_rules_use_only_metrics_the_endpoint_serves(make_app, hueyd_proc):
    board = json.loads(DASHBOARD.read_text())  # valid JSON, or this fails
    assert board["title"] == "hueyd" and board["panels"]
    app = make_app("redis", "dash")
    _, scrape = start(app, hueyd_proc, "-w", "1")
    app.tasks.add(1, 2)
    wait_for(lambda: scrape.value("hueyd_tasks_total", task="add", outcome="completed"), 30,
             message=lambda: f"a task counted in:\n{scrape.text}")
    wait_for(lambda: scrape.value("hueyd_queue_length") is not None, 20,
             message="the queue gauges")
    served = served_names(scrape)
    used = {name for q in dashboard_queries() for name in METRIC.findall(q)}
    used_by_rules = set(METRIC.findall(RULES.read_text()))
    assert used and used_by_rules
    assert used <= served, used - served
    assert used_by_rules <= served, used_by_rules - served
