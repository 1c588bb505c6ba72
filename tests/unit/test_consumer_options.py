"""huey_consumer's options on ``hueyd run``: every one of huey 3.5.4's, the same letters,
long names and values (tests/unit/huey_consumer_options.txt is huey's list), their YAML
keys (huey's ConsumerConfig names), and what they do to the consumer's settings."""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys

import pytest

from hueyd import cli
from hueyd.consumer.settings import ConsumerSettings
from hueyd.daemon import logs
from hueyd.daemon.config import ConfigError, load_config
from hueyd.daemon.master import build_consumer
from tests.helpers import ROOT

OPTIONS = os.path.join(os.path.dirname(__file__), "huey_consumer_options.txt")


def huey_options() -> list[tuple[str, str, str | None]]:
    """(short, long, value or None) per line of huey's list."""
    rows = []
    with open(OPTIONS, encoding="utf-8") as f:
        for line in f:
            if line.strip() and not line.startswith("#"):
                short, long, value = line.split()
                rows.append((short, long, None if value == "-" else value))
    return rows


def parse(*argv: str):
    return cli.config_from(cli.build_parser().parse_args(["run", "app.huey", *argv]))


def test_run_help_lists_every_huey_consumer_option():
    done = subprocess.run([sys.executable, "-m", "hueyd", "run", "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    missing = [f"{short}/{long}" for short, long, _ in huey_options()
               if f"{short}," not in done.stdout and f"{short} " not in done.stdout
               or long not in done.stdout]
    assert not missing, f"hueyd run --help lacks huey_consumer's {missing}"
    assert len(huey_options()) == 18


@pytest.mark.parametrize("short,long,value", huey_options())
def test_each_huey_option_is_accepted_in_both_spellings(short, long, value):
    for flag in (short, long):
        argv = [flag] if value is None else [flag, value]
        if flag in ("-l", "--logfile"):
            argv = [flag, "/tmp/x.log"]
        parse(*argv)  # no UsageError, no ConfigError


def test_the_new_options_reach_the_consumer_settings():
    config = parse("-M", "3", "-t", "5", "-g", "TERM", "-f", "-L", "a,b", "-S")
    assert (config.max_tasks, config.shutdown_timeout, config.graceful_signal,
            config.flush_locks, config.extra_locks, config.simple_log) == \
        (3, 5.0, "TERM", True, "a,b", True)
    settings = build_consumer(config, __import__("hueyd").MemoryHuey("o")).settings
    assert (settings.max_tasks, settings.shutdown_timeout, settings.graceful_signal,
            settings.flush_locks, settings.extra_locks) == (3, 5.0, "TERM", True, "a,b")
    assert settings.stop_signals == (signal.SIGTERM, signal.SIGINT)
    assert ConsumerSettings().stop_signals == (signal.SIGINT, signal.SIGTERM)


def test_yaml_keys_are_huey_consumerconfig_names(tmp_path):
    path = tmp_path / "h.yaml"
    path.write_text("app: app.huey\nmax_tasks: 10\nshutdown_timeout: 55\n"
                    "graceful_signal: term\nflush_locks: true\nextra_locks: x,y\n"
                    "simple_log: true\n")
    config = load_config(str(path), {})
    assert (config.max_tasks, config.shutdown_timeout, config.graceful_signal,
            config.flush_locks, config.extra_locks, config.simple_log) == \
        (10, 55.0, "TERM", True, "x,y", True)


@pytest.mark.parametrize("argv,message", [
    (["-g", "HUP"], "option -g/--graceful-signal: must be one of INT, TERM, got 'HUP'"),
    (["-M", "0"], "option -M/--max-tasks: must be at least 1, got 0"),
    (["-M", "many"], "option -M/--max-tasks: expected an integer or null, got 'many'"),
    (["-t", "-1"], "option -t/--shutdown-timeout: must be at least 0, got -1"),
])
def test_bad_values_are_one_line(argv, message):
    with pytest.raises(ConfigError) as caught:
        parse(*argv)
    assert str(caught.value) == f"hueyd: {message}"


def test_embedded_max_tasks_follows_huey():
    """huey: max_tasks 0 or None never recycles."""
    assert ConsumerSettings(max_tasks=0).max_tasks is None
    assert ConsumerSettings.from_options(max_tasks=5).max_tasks == 5
    with pytest.raises(ValueError, match="graceful_signal"):
        ConsumerSettings(graceful_signal="HUP")


def test_simple_log_format_is_time_and_message(capsys):
    try:
        logs.setup("INFO", simple=True)
        logging.getLogger("hueyd.test").info("simple line")
        line = capsys.readouterr().err.strip().splitlines()[-1]
    finally:
        logs.setup("INFO")
    stamp, _, text = line.partition(" ")
    assert text == "simple line"
    assert len(stamp) == 8 and stamp[2] == stamp[5] == ":", line


# -- huey's ConsumerConfig -------------------------------------------------------------
def test_consumer_config_defaults_values_and_a_consumer_built_from_them():
    from hueyd import MemoryHuey
    from hueyd.consumer import Consumer, ConsumerConfig
    config = ConsumerConfig(workers=3, max_tasks=7, graceful_signal="TERM", verbose=True,
                            logfile="/tmp/never-opened.log")
    config.validate()
    assert config.loglevel == logging.DEBUG
    assert ConsumerConfig().loglevel == logging.INFO
    assert ConsumerConfig(verbose=False).loglevel == logging.WARNING
    assert "logfile" not in config.values and "verbose" not in config.values
    consumer = Consumer(MemoryHuey("cc"), **config.values)
    assert (consumer.workers, consumer.max_tasks, consumer.graceful_signal,
            consumer.delay) == (3, 7, "TERM", 0.1)


@pytest.mark.parametrize("options,message", [
    ({"backoff": 0.5}, "backoff"), ({"scheduler_interval": 0}, "once a minute"),
    ({"scheduler_interval": 7}, "divide 60"), ({"graceful_signal": "HUP"}, "INT or TERM"),
])
def test_consumer_config_validate(options, message):
    from hueyd.consumer import ConsumerConfig
    with pytest.raises(ValueError, match=message):
        ConsumerConfig(**options).validate()


def test_consumer_config_setup_logger_simple(tmp_path):
    from hueyd.consumer import ConsumerConfig
    logger = logging.getLogger("hueyd.test.consumer-config")
    logger.propagate = False
    ConsumerConfig(simple_log=True, logfile=str(tmp_path / "c.log")).setup_logger(logger)
    logger.info("one line")
    for handler in logger.handlers:
        handler.close()
    logger.handlers.clear()
    line = (tmp_path / "c.log").read_text().strip()
    assert line.endswith(" one line") and line[2] == ":" and len(line) == len("00:00:00 one line")


def test_option_parser_handler_reads_every_huey_option_into_a_consumer_config():
    """huey_consumer's way: optparse options -> ConsumerConfig -> Consumer keywords."""
    from hueyd import MemoryHuey
    from hueyd.consumer import Consumer, ConsumerConfig, OptionParserHandler, config_keys
    parser = OptionParserHandler().get_option_parser()
    for short, long, value in huey_options():
        for flag in (short, long):
            parser.parse_args([flag] if value is None else [flag, value])
    options, args = parser.parse_args(["-w", "4", "-k", "process", "-M", "10", "-t", "5",
                                       "-g", "TERM", "-S", "-f", "-L", "a,b", "-C", "-n",
                                       "app.huey"])
    config = ConsumerConfig(**{k: v for k, v in vars(options).items() if v is not None})
    config.validate()
    assert args == ["app.huey"] and set(vars(options)) <= set(config_keys)
    assert (config.workers, config.worker_type, config.max_tasks, config.shutdown_timeout,
            config.graceful_signal, config.simple_log, config.flush_locks, config.extra_locks,
            config.check_worker_health, config.periodic) == \
        (4, "process", 10, 5.0, "TERM", True, True, "a,b", False, False)
    consumer = Consumer(MemoryHuey("p"), **config.values)
    assert (consumer.workers, consumer.worker_type, consumer.max_tasks) == (4, "process", 10)
