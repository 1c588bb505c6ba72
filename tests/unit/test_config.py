"""The configuration: defaults, the example file, and the YAML + command-line merge.

Broken configurations through the real command line are in test_config_broken.py.
"""
from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import textwrap

import pytest

from hueyd.daemon import config as cfg
from hueyd.daemon.config import SETTINGS, Config, ConfigError, load_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE = os.path.join(ROOT, "etc", "hueyd", "example.yaml")
HUEYD = [sys.executable, "-m", "hueyd"]

from tests.unit.test_config_broken import check


def test_check_accepts_the_example_config(tmp_path):
    blog = os.path.join(ROOT, "examples", "blog")
    done = check(blog, "--config", EXAMPLE, env={"BLOG_DB": str(tmp_path / "blog.db")})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (f"hueyd: configuration {EXAMPLE} is valid "
                                   "(app blog.main.huey, 1 thread worker)")


def test_the_example_documents_every_yaml_key_with_its_default():
    import yaml
    with open(EXAMPLE) as f:
        example = yaml.safe_load(f)
    flat = {k: v for k, v in example.items() if k not in cfg.SECTIONS}
    for section in cfg.SECTIONS:
        flat.update({f"{section}.{k}": v for k, v in example[section].items()})
    assert set(flat) == set(cfg.BY_YAML_KEY)
    for key, spec in cfg.BY_YAML_KEY.items():
        if key != "app":
            expected = list(spec.default) if isinstance(spec.default, tuple) else spec.default
            assert flat[key] == expected, key


# -- in process: the merge and the values ----------------------------------------------
def write(tmp_path, text: str) -> str:
    path = tmp_path / "hueyd.yaml"
    path.write_text(textwrap.dedent(text))
    return str(path)


def test_defaults_are_huey_consumers():
    config = load_config(None, {"app": "blog.main.huey"})
    expected = dict(app="blog.main.huey", workers=1, worker_type="thread", periodic=True,
                    delay=0.1, max_delay=10.0, backoff=1.15, health_check_interval=10.0,
                    health_check=True, scheduler_interval=1, utc=True, shutdown_timeout=60.0,
                    graceful_signal="INT", max_tasks=None, flush_locks=False, extra_locks=None,
                    task_timeout=None, startup_timeout=30.0, pythonpath=(), chdir=None,
                    virtualenv=None, django_settings=None, environment={}, log_level="INFO",
                    log_file=None, log_format=None, simple_log=False, redis_url=None,
                    sqlite_path=None, file_path=None, secret_key_file=None, instance=None,
                    config_path=None, daemonize=False, pidfile=None, metrics_listen=None)
    assert dataclasses.asdict(config) == expected
    assert [f.name for f in dataclasses.fields(Config)] == list(expected)


def test_yaml_values_and_command_line_overrides(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = write(tmp_path, """\
        app: blog.main.huey
        workers: 4
        worker_type: gevent
        delay: 1
        task_timeout: 30
        pythonpath: /srv/blog
        environment: {DJANGO_SETTINGS_MODULE: blog.settings, WORKERS: 4}
        logging:
          level: debug
          file: /var/log/hueyd/blog.log
        """)
    config = load_config("hueyd.yaml", {"workers": "8", "periodic": False})
    assert config.config_path == path  # absolute: a reload after chdir finds it
    assert (config.workers, config.periodic) == (8, False)  # the command line wins
    assert config.worker_type == "greenlet"  # huey's alias
    assert isinstance(config.delay, float) and config.delay == 1.0
    assert config.task_timeout == 30.0 and config.pythonpath == ("/srv/blog",)
    assert config.environment == {"DJANGO_SETTINGS_MODULE": "blog.settings", "WORKERS": "4"}
    assert (config.log_level, config.log_file) == ("DEBUG", "/var/log/hueyd/blog.log")
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.workers = 2  # type: ignore[misc]


def test_null_timeouts_and_empty_logging(tmp_path):
    config = load_config(write(tmp_path, """\
        app: a.b
        shutdown_timeout: null
        logging:
        """), {"task_timeout": "none"})
    assert config.shutdown_timeout is None and config.task_timeout is None


def test_command_line_errors_name_the_option():
    with pytest.raises(ConfigError) as caught:
        load_config(None, {"app": "a.b", "backoff": "1"})
    assert str(caught.value) == "hueyd: option -b/--backoff: must be greater than 1, got 1"
    with pytest.raises(ConfigError, match="option --task-timeout: expected a number or null"):
        load_config(None, {"app": "a.b", "task_timeout": "soon"})


def test_config_error_is_one_line_even_for_multi_line_messages():
    error = ConfigError("/etc/hueyd/x.yaml", "app", "cannot import:\n  a\n  b", line=3)
    assert str(error) == "hueyd: /etc/hueyd/x.yaml:3: app: cannot import: a b"
    assert (error.file, error.key, error.line) == ("/etc/hueyd/x.yaml", "app", 3)


@pytest.mark.parametrize("check,value,problem", [
    (cfg.at_least(1), 1, None),
    (cfg.at_least(1), 0, "must be at least 1, got 0"),
    (cfg.above(1), 1.15, None),
    (cfg.above(1), 1, "must be greater than 1, got 1"),
    (cfg.between(1, 60), 60, None),
    (cfg.between(1, 60), 61, "must be from 1 to 60, got 61"),
    (cfg.one_of(("a", "b")), "c", "must be one of a, b, got 'c'"),
    (cfg.import_path, "blog.main.huey", None),
    (cfg.import_path, "blog.main:huey", None),
    (cfg.import_path, "blog", "expected module.attribute (e.g. blog.main.huey), got 'blog'"),
    (cfg.redis_url, "unix:///run/redis.sock", None),
    (cfg.log_format, "%(levelname)s %(message)s", None),
    (cfg.log_format, "%(message)s %(", "is not a valid %-style logging format: "
                                       "'%(message)s %('"),
    (cfg.environment, {"A": "1"}, None),
    (cfg.environment, {"A=B": "1"}, "'A=B' is not a variable name"),
])
def test_checks(check, value, problem):
    assert check(value) == problem


def test_every_setting_is_declared_once_with_help():
    for name, spec in SETTINGS.items():
        assert spec.help, name
    assert set(SETTINGS) == {f.name for f in dataclasses.fields(Config)}


def test_worker_types_match_the_consumer():
    from hueyd.consumer.runtime import RUNTIMES
    from hueyd.consumer.settings import WORKER_TYPES
    assert cfg.WORKER_TYPES is WORKER_TYPES  # defined once, on the consumer floor
    assert set(WORKER_TYPES) <= set(RUNTIMES)


def test_reading_the_config_loads_neither_threading_nor_logging():
    """Nor PyYAML (2 MiB of RSS) when there is no file to read."""
    probe = ("import sys\nfrom hueyd.daemon.config import load_config\n"
             "load_config(None, {'app': 'a.b', 'workers': '3'})\n"
             "print(sorted(m for m in ('threading', 'logging', 'redis', 'gevent', 'yaml') "
             "if m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
