"""The Prometheus endpoint (issue 19) of a real daemon on the suite's redis-server,
scraped over HTTP: counters and histograms after 90 completed and 10 failed tasks
(thread and process workers), gauges that follow a growing and a draining queue,
and ``promtool check metrics`` (Debian's prometheus package) on what it serves.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import urllib.error
import urllib.request

import pytest

from tests.helpers import free_port, unavailable, wait_for
from tests.integration.conftest import HUEYD, ROOT, App, Daemon


def parsed(text: str) -> dict[tuple[str, tuple], float]:
    """(sample name, sorted labels without ``queue``) -> value."""
    try:
        from prometheus_client.parser import text_string_to_metric_families
    except ImportError:
        unavailable("prometheus_client is not installed (python3-prometheus-client)")
    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = tuple(sorted((k, v) for k, v in s.labels.items() if k != "queue"))
            samples[(s.name, labels)] = s.value
    return samples


class Scraper:
    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/metrics"
        self.text = ""

    def __call__(self) -> dict[tuple[str, tuple], float]:
        with urllib.request.urlopen(self.url, timeout=5) as reply:
            assert reply.status == 200
            assert reply.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            self.text = reply.read().decode()
        return parsed(self.text)

    def value(self, name: str, **labels: str) -> float | None:
        return self().get((name, tuple(sorted(labels.items()))))


def start(app: App, hueyd_proc, *args: str) -> tuple[Daemon, Scraper]:
    port = free_port()
    daemon = hueyd_proc(app, "tasksapp.huey", "-n", "--metrics-listen", f"127.0.0.1:{port}",
                        *args)
    daemon.wait_for_log(f"metrics at http://127.0.0.1:{port}/metrics", 20)
    return daemon, Scraper(port)


def promtool_check(text: str) -> None:
    if shutil.which("promtool") is None:
        unavailable("promtool is not installed (the prometheus package)")
    done = subprocess.run(["promtool", "check", "metrics"], input=text, text=True,
                          capture_output=True, timeout=30)
    assert done.returncode == 0 and not done.stdout.strip() and not done.stderr.strip(), \
        done.stdout + done.stderr


@pytest.mark.parametrize("worker_type", ["thread", "process", "greenlet"])
def test_counters_and_histograms_after_90_completed_and_10_failed(make_app, hueyd_proc,
                                                                  worker_type):
    app = make_app("redis", f"metrics-{worker_type}")
    daemon, scrape = start(app, hueyd_proc, "-k", worker_type, "-w", "2")
    for n in range(100):
        if n % 10 == 3:
            app.tasks.fail(f"number {n}")
        else:
            app.tasks.add(n, 1)

    def finished() -> bool:
        done = scrape()
        return sum(v for (name, _), v in done.items() if name == "hueyd_tasks_total") >= 100
    wait_for(finished, 30, message=lambda: f"100 outcomes in:\n{scrape.text}")
    samples = scrape()
    outcomes = {labels: v for (name, labels), v in samples.items()
                if name == "hueyd_tasks_total"}
    assert outcomes == {(("outcome", "completed"), ("task", "add")): 90,
                        (("outcome", "failed"), ("task", "fail")): 10}, outcomes
    for histogram in ("hueyd_task_duration_seconds", "hueyd_task_queue_wait_seconds"):
        for task, count in (("add", 90), ("fail", 10)):
            assert samples[(f"{histogram}_count", (("task", task),))] == count
            assert samples[(f"{histogram}_bucket", (("le", "+Inf"), ("task", task)))] == count
            assert samples[(f"{histogram}_sum", (("task", task),))] >= 0
    assert samples[("hueyd_storage_up", ())] == 1
    assert samples[("hueyd_build_info", (("python", _python()), ("version", _version())))] == 1
    promtool_check(scrape.text)
    assert daemon.running()


def _python() -> str:
    import platform
    return platform.python_version()


def _version() -> str:
    import hueyd
    return hueyd.__version__


def test_gauges_follow_a_growing_then_draining_queue(make_app, hueyd_proc):
    app = make_app("redis", "metrics-gauges")
    daemon, scrape = start(app, hueyd_proc, "-w", "1")
    wait_for(lambda: scrape.value("hueyd_consumers_alive") == 1, 20,
             message=lambda: f"one consumer alive in:\n{scrape.text}")
    app.tasks.gate("open")  # holds the only worker
    wait_for(lambda: scrape.value("hueyd_workers", state="busy") == 1, 20,
             message=lambda: f"a busy worker in:\n{scrape.text}")
    for added, expected in ((10, 10), (20, 30)):  # the queue grows
        for n in range(added):
            app.tasks.add(n, n)
        wait_for(lambda e=expected: scrape.value("hueyd_queue_length") == e, 20,
                 message=lambda e=expected: f"a queue of {e} in:\n{scrape.text}")
        assert scrape.value("hueyd_oldest_task_age_seconds") > 0
        assert scrape.value("hueyd_in_flight_tasks") >= 1
    (app.out / "open").touch()
    wait_for(lambda: scrape.value("hueyd_queue_length") == 0
             and scrape.value("hueyd_workers", state="idle") == 1, 20,
             message=lambda: f"the queue drained in:\n{scrape.text}")
    assert scrape.value("hueyd_tasks_total", task="add", outcome="completed") == 30
    assert scrape.value("hueyd_oldest_task_age_seconds") == 0
    assert scrape.value("hueyd_dead_letters") == 0
    promtool_check(scrape.text)
    assert daemon.running()


def without_the_library(tmp_path) -> dict[str, str]:
    """An environment where ``import prometheus_client`` fails, as on a host without
    python3-prometheus-client (a module of that name that refuses to load comes first)."""
    shadow = tmp_path / "no-prometheus"
    shadow.mkdir()
    (shadow / "prometheus_client.py").write_text("raise ImportError('not installed')\n")
    return {"PYTHONPATH": f"{shadow}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}


def test_without_the_client_library_one_line_and_the_daemon_runs(make_app, hueyd_proc,
                                                                  tmp_path):
    app = make_app("redis", "metrics-missing")
    port = free_port()
    env = without_the_library(tmp_path)
    env["PYTHONPATH"] += f"{os.pathsep}{app.dir}{os.pathsep}{ROOT}"
    checked = subprocess.run([*HUEYD, "check", "tasksapp.huey", "--metrics-listen",
                              f"127.0.0.1:{port}"], cwd=app.dir, text=True, timeout=60,
                             capture_output=True, env={**os.environ, **app.env, **env})
    assert checked.returncode == 0, checked.stderr
    said = [line for line in checked.stderr.splitlines() if "metrics" in line]
    assert said == [
        f"hueyd: warning: metrics.listen 127.0.0.1:{port}: no metrics endpoint: "
        "python3-prometheus-client is not installed (apt install python3-prometheus-client)"]
    assert "Traceback" not in checked.stderr
    daemon = hueyd_proc(app, "tasksapp.huey", "-n", "--metrics-listen", f"127.0.0.1:{port}",
                        env=env)
    daemon.wait_for_log("no metrics endpoint: python3-prometheus-client is not installed", 20)
    assert app.tasks.add(1, 2).get(blocking=True, timeout=20) == 3
    assert daemon.running() and "Traceback" not in daemon.output
    assert daemon.output.count("no metrics endpoint") == 1


def test_a_taken_address_is_one_line_and_the_daemon_runs(make_app, hueyd_proc):
    app = make_app("redis", "metrics-taken")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        daemon = hueyd_proc(app, "tasksapp.huey", "-n", "--metrics-listen",
                            f"127.0.0.1:{port}")
        daemon.wait_for_log(f"metrics.listen 127.0.0.1:{port}: no metrics endpoint: "
                            "Address already in use", 20)
        assert app.tasks.add(1, 2).get(blocking=True, timeout=20) == 3
        assert daemon.running() and "Traceback" not in daemon.output


def test_the_endpoint_bounds_what_a_client_may_send(make_app, hueyd_proc):
    app = make_app("redis", "metrics-hostile")
    daemon, scrape = start(app, hueyd_proc, "-w", "1")
    port = int(scrape.url.split(":")[2].split("/")[0])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as long_line:
        long_line.sendall(b"GET /" + b"x" * 10000 + b" HTTP/1.0\r\n\r\n")
        assert long_line.recv(1024).startswith(b"HTTP/1.0 414 ")
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(6)]  # silent ones
    try:
        assert app.tasks.add(1, 2).get(blocking=True, timeout=20) == 3  # the master runs
        # the silent clients time out; the endpoint answers again
        wait_for(lambda: _answers(scrape), 20, interval=0.5, message="the endpoint again")
    finally:
        for sock in idle:
            sock.close()
    assert status_of(scrape.url.replace("/metrics", "/nothing")) == 404
    assert daemon.running() and "Traceback" not in daemon.output


def _answers(scrape: Scraper) -> bool:
    try:
        scrape()
    except OSError:
        return False
    return True


def status_of(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return reply.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_the_endpoint_comes_back_after_a_reload(make_app, hueyd_proc):
    """SIGHUP re-executes the master in place: the new image binds the same address
    (the old socket closed with the exec) and its counts start again from zero."""
    app = make_app("redis", "metrics-reload")
    daemon, scrape = start(app, hueyd_proc, "-k", "process", "-w", "2")
    assert app.tasks.add(1, 2).get(blocking=True, timeout=20) == 3
    wait_for(lambda: scrape.value("hueyd_tasks_total", task="add", outcome="completed") == 1,
             20, message=lambda: f"the task counted in:\n{scrape.text}")
    daemon.signal(signal.SIGHUP)
    at = daemon.wait_for_log("re-executing", timeout=30)
    daemon.wait_for_log("metrics at http://", timeout=30, start=at)
    assert app.tasks.add(2, 3).get(blocking=True, timeout=20) == 5
    wait_for(lambda: scrape.value("hueyd_tasks_total", task="add", outcome="completed") == 1,
             20, message=lambda: f"one task counted since the reload in:\n{scrape.text}")
    assert daemon.running() and "no metrics endpoint" not in daemon.output
