"""The daemon's settings: declared once, read from YAML and the command line.

Each field of :class:`Config` is one setting, declared by :func:`setting` with
everything about it in one place: default, kind, check, command-line flags,
YAML key and help. ``load_config`` reads the YAML file, lays the command-line
overrides over it and returns a frozen ``Config``; every mistake becomes a
:class:`ConfigError` whose ``str()`` is the one line the operator sees.

Only the standard library and (when a file is read) PyYAML: no ``logging`` or ``threading``
before the command line knows whether gevent must monkey-patch first.
"""
from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from hueyd.consumer.settings import WORKER_TYPE_ALIASES, WORKER_TYPES
from hueyd.daemon import limits
from hueyd.daemon.kinds import (
    BOOL,
    ENVIRONMENT,
    INT,
    NUMBER,
    OPTIONAL_INT,
    OPTIONAL_NUMBER,
    OPTIONAL_TEXT,
    PATH_LIST,
    TEXT,
    Check,
    Kind,
    above,
    at_least,
    at_most,
    between,
    every,
    one_of,
)
from hueyd.daemon.kinds import short as _short
from hueyd.daemon.redact import redact, redact_url

GRACEFUL_SIGNALS = ("INT", "TERM")
DJANGO_APP = "hueyd.contrib.djhuey.HUEY"  # with django_settings: settings.HUEY
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
SECTIONS = {"logging": "level, file, format", "metrics": "listen"}  # YAML key -> its keys
REDIS_SCHEMES = ("redis://", "rediss://", "unix://", "redis+sentinel://", "rediss+sentinel://",
                 "redis+cluster://", "rediss+cluster://")
#: an application's Huey: module.attribute or module:attribute (blog.main.huey)
IMPORT_PATH = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*[.:][A-Za-z_]\w*(\.[A-Za-z_]\w*)*")
#: a %-style logging field, as the logging module validates it
LOG_FIELD = re.compile(r"%\(\w+\)[#0+ -]*(\*|\d+)?(\.(\*|\d+))?[diouxefgcrsa%]", re.I)


class ConfigError(Exception):
    """A configuration mistake: ``str()`` is one line naming the file, line and key."""

    def __init__(self, file: str | None, key: str | None, message: str,
                 line: int | None = None) -> None:
        super().__init__(file, key, message, line)
        self.file, self.key, self.message, self.line = file, key, message, line

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.file and self.line else self.file
        parts = [p for p in ("hueyd", where, self.key, self.message) if p]
        return redact(" ".join(": ".join(parts).split()))  # one line, never a password


def environment(value: dict) -> str | None:
    for name, text in value.items():
        if not isinstance(name, str) or not name or "=" in name or "\0" in name:
            return f"{_short(name)} is not a variable name"
        if not isinstance(text, str) or "\0" in text:
            return f"{_short(name)[1:-1]}: expected a string or a number, got {_short(text)}"
    return None


def import_path(value: str) -> str | None:
    if len(value) > limits.MAX_APP_PATH:
        return f"longer than {limits.MAX_APP_PATH} characters: not an import path"
    ok = IMPORT_PATH.fullmatch(value)
    return None if ok else f"expected module.attribute (e.g. blog.main.huey), got {_short(value)}"


def redis_url(value: str) -> str | None:
    ok = value.startswith(REDIS_SCHEMES)
    return None if ok else f"must start with {', '.join(REDIS_SCHEMES)}, got {redact_url(value)!r}"


def log_format(value: str) -> str | None:
    if "%(message)" not in value:
        return f"must contain %(message)s, got {value!r}"
    if "%(" in LOG_FIELD.sub("", value):
        return f"is not a valid %-style logging format: {value!r}"
    return None


# -- the declaration -----------------------------------------------------------------
class Switch(NamedTuple):  # not a frozen dataclass: ~0.4 ms less at start
    """A command-line flag that sets its setting to ``value`` (``-n`` → periodic off)."""

    flags: tuple[str, ...]
    value: Any
    help: str


class Setting(NamedTuple):  # not a frozen dataclass: ~0.4 ms less at start
    name: str
    kind: Kind
    default: Any
    help: str
    check: Check | None = None
    flags: tuple[str, ...] = ()
    switches: tuple[Switch, ...] = ()
    yaml: str | None = None  # the YAML key ("logging.level"); None: command line only
    metavar: str | None = None

    @property
    def command_line(self) -> str:
        """Its flags, "-w/--workers" ("" if it has none)."""
        return "/".join(self.flags or tuple(f for s in self.switches for f in s.flags))

    @property
    def option(self) -> str:
        """How error messages name the setting when it came from the command line."""
        return f"option {self.command_line}" if self.command_line else self.name

    def value(self, raw: Any, file: str | None, label: str, line: int | None = None,
              text: bool = False) -> Any:
        """``raw`` checked and normalised; ConfigError naming ``label`` if it is wrong."""
        given = raw
        if text and isinstance(raw, str) and self.kind.from_text:
            try:
                raw = self.kind.from_text(raw)
            except (ValueError, KeyError):
                raw = given
        if not self.kind.accepts(raw):
            raise ConfigError(file, label, f"expected {self.kind.expected}, got {_short(given)}",
                              line)
        value = self.kind.normal(raw)
        problem = limits.control_character(value)
        if not problem and self.check and value is not None:
            problem = self.check(value)
        if problem:
            raise ConfigError(file, label, problem, line)
        return value


_SAME_AS_NAME = "\0"


def setting(default: Any, kind: Kind, help: str, check: Check | None = None,
            flags: tuple[str, ...] = (), switches: tuple[Switch, ...] = (),
            yaml: str | None = _SAME_AS_NAME, metavar: str | None = None) -> Any:
    """A ``Config`` field carrying its setting's declaration."""
    spec = {"kind": kind, "help": help, "check": check, "flags": flags, "switches": switches,
            "yaml": yaml, "metavar": metavar}
    if default is dataclasses.MISSING:
        return field(metadata={"setting": spec})
    if isinstance(default, (dict, list)):
        return field(default_factory=lambda: type(default)(default), metadata={"setting": spec})
    return field(default=default, metadata={"setting": spec})


@dataclass(frozen=True)
class Config:
    app: str = setting(dataclasses.MISSING, TEXT,
                       "import path of the application's Huey instance, e.g. blog.main.huey",
                       import_path)
    workers: int = setting(1, INT, "number of workers",
                           every(at_least(1), at_most(max(limits.MAX_WORKERS.values()))),
                           ("-w", "--workers"))
    worker_type: str = setting(
        "thread", Kind(TEXT.expected, TEXT.accepts, str,
                       lambda v: WORKER_TYPE_ALIASES.get(v, v)),
        "worker type: thread, process or greenlet", one_of(WORKER_TYPES),
        ("-k", "--worker-type"))
    periodic: bool = setting(True, BOOL, "enqueue periodic tasks", switches=(
        Switch(("-n", "--no-periodic"), False, "do not enqueue periodic tasks"),))
    delay: float = setting(0.1, NUMBER, "initial polling delay (seconds)",
                           every(at_least(0), at_most(limits.MAX_POLL_DELAY)), ("-d", "--delay"))
    max_delay: float = setting(10.0, NUMBER, "maximum polling delay (seconds)",
                               every(at_least(0), at_most(limits.MAX_POLL_DELAY)),
                               ("-m", "--max-delay"))
    backoff: float = setting(1.15, NUMBER, "polling backoff factor",
                             every(above(1), at_most(10)), ("-b", "--backoff"))
    health_check_interval: float = setting(
        10.0, NUMBER, "seconds between worker health checks",
        every(above(0), at_most(limits.MAX_HEALTH_CHECK_INTERVAL)),
        ("-c", "--health-check-interval"))
    health_check: bool = setting(True, BOOL, "replace dead workers", switches=(
        Switch(("-C", "--disable-health-check"), False, "do not replace dead workers"),))
    scheduler_interval: int = setting(1, INT, "seconds between scheduler runs (1-60)",
                                      between(1, 60), ("-s", "--scheduler-interval"))
    utc: bool = setting(True, BOOL, "periodic tasks follow UTC (else local time)", switches=(
        Switch(("-u", "--utc"), True, "periodic tasks follow UTC (default)"),
        Switch(("-o", "--localtime"), False, "periodic tasks follow local time")))
    shutdown_timeout: float | None = setting(
        60.0, OPTIONAL_NUMBER, "seconds running tasks get to finish on a graceful stop "
        "(null: no limit)", every(at_least(0), at_most(limits.MAX_TIMEOUT)),
        ("-t", "--shutdown-timeout"), metavar="SECONDS")
    graceful_signal: str = setting(
        "INT", Kind(TEXT.expected, TEXT.accepts, str, lambda v: v.upper().removeprefix("SIG")),
        "the signal that stops gracefully, INT or TERM; the other one interrupts running "
        "tasks", one_of(GRACEFUL_SIGNALS), ("-g", "--graceful-signal"), metavar="INT|TERM")
    max_tasks: int | None = setting(None, OPTIONAL_INT, "recycle a worker after it ran this "
                                    "many tasks (null: never)", at_least(1),
                                    ("-M", "--max-tasks"), metavar="COUNT")
    flush_locks: bool = setting(False, BOOL, "flush every task lock at start", switches=(
        Switch(("-f", "--flush-locks"), True, "flush every task lock at start"),))
    extra_locks: str | None = setting(None, OPTIONAL_TEXT, "more lock names to flush at "
                                      "start, separated by commas", flags=("-L", "--extra-locks"),
                                      metavar="NAMES")
    task_timeout: float | None = setting(
        None, OPTIONAL_NUMBER, "seconds a task may run (null: no limit)",
        every(above(0), at_most(limits.MAX_TIMEOUT)), ("--task-timeout",))
    startup_timeout: float = setting(30.0, NUMBER, "seconds to wait for the storage at start",
                                     every(above(0), at_most(limits.MAX_STARTUP_TIMEOUT)))
    pythonpath: tuple[str, ...] = setting((), PATH_LIST, "directories put first on sys.path")
    chdir: str | None = setting(None, OPTIONAL_TEXT, "working directory of the daemon")
    virtualenv: str | None = setting(None, OPTIONAL_TEXT, "the app's virtualenv: its packages "
                                     "win over Debian's", flags=("--virtualenv",), metavar="DIR")
    django_settings: str | None = setting(None, OPTIONAL_TEXT, "Django settings module (app "
                                          "then defaults to settings.HUEY)",
                                          flags=("--django-settings",), metavar="MODULE")
    environment: dict[str, str] = setting({}, ENVIRONMENT, "environment variables for the app",
                                          environment)
    log_level: str = setting(
        "INFO", Kind(TEXT.expected, TEXT.accepts, str, lambda v: v.upper()),
        "log level", one_of(LOG_LEVELS), yaml="logging.level", switches=(
            Switch(("-v", "--verbose"), "DEBUG", "log at DEBUG level"),
            Switch(("-q", "--quiet"), "WARNING", "log only warnings and errors")))
    log_file: str | None = setting(None, OPTIONAL_TEXT, "log file (default: stderr)",
                                   flags=("-l", "--logfile"), yaml="logging.file",
                                   metavar="FILE")
    log_format: str | None = setting(None, OPTIONAL_TEXT, "%-style log record format",
                                     log_format, yaml="logging.format")
    simple_log: bool = setting(False, BOOL, "huey's simple log format: time and message",
                               switches=(Switch(("-S", "--simple"), True, "simple log format "
                                                "(time and message)"),))
    redis_url: str | None = setting(None, OPTIONAL_TEXT, "Redis URL replacing the app's",
                                    redis_url)
    sqlite_path: str | None = setting(None, OPTIONAL_TEXT, "SQLite file replacing the app's")
    file_path: str | None = setting(None, OPTIONAL_TEXT, "FileHuey folder replacing the app's")
    secret_key_file: str | None = setting(None, OPTIONAL_TEXT, "key file signing messages",
                                          flags=("--secret-key-file",), metavar="FILE")
    instance: str | None = setting(None, OPTIONAL_TEXT, "name shown in STATUS (default: the "
                                   "Huey's name)")
    config_path: str | None = setting(None, OPTIONAL_TEXT, "the YAML file read", yaml=None)
    daemonize: bool = setting(False, BOOL, "detach (hosts without systemd)", yaml=None,
                              switches=(Switch(("--daemonize",), True,
                                               "detach from the terminal (not under systemd)"),))
    pidfile: str | None = setting(None, OPTIONAL_TEXT, "PID file written with --daemonize",
                                  flags=("--pidfile",), yaml=None, metavar="FILE")
    metrics_listen: str | None = setting(None, OPTIONAL_TEXT, "Prometheus metrics at HOST:PORT",
        limits.listen_problem, ("--metrics-listen",), yaml="metrics.listen", metavar="HOST:PORT")


def _settings() -> dict[str, Setting]:
    table = {}
    for f in dataclasses.fields(Config):
        spec = dict(f.metadata["setting"])
        if spec["yaml"] == _SAME_AS_NAME:
            spec["yaml"] = f.name
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING \
            else f.default
        table[f.name] = Setting(f.name, default=default, **spec)
    return table


#: field name -> Setting, in declaration order
SETTINGS: dict[str, Setting] = _settings()
#: YAML key -> Setting
BY_YAML_KEY: dict[str, Setting] = {s.yaml: s for s in SETTINGS.values() if s.yaml}


# -- reading -------------------------------------------------------------------------
def load_config(path: str | None, overrides: Mapping[str, Any]) -> Config:
    """The configuration from ``path`` (None: none) with ``overrides`` laid over it.
    ``overrides`` maps field names to values; strings are parsed as command-line
    text (``{"workers": "4"}``), and errors name the option, not the key."""
    path = None if path is None else os.path.abspath(path)
    values: dict[str, Any] = {} if path is None else read_yaml(path)
    for name, raw in overrides.items():
        spec = SETTINGS.get(name)
        if spec is None:
            raise ConfigError(None, name, "unknown setting")
        values[name] = spec.value(raw, None, spec.option, text=True)
    if values.get("django_settings"):
        values.setdefault("app", DJANGO_APP)
    if "app" not in values:
        where = "" if path else " (give APP, e.g. blog.main.huey, or --config FILE)"
        raise ConfigError(path, "app", "required: the import path of the application's "
                          f"Huey instance{where}")
    _check_workers(values, path, "workers" in overrides)
    values["config_path"] = path
    return Config(**values)


def _check_workers(values: Mapping[str, Any], path: str | None, from_command_line: bool) -> None:
    """The number of workers against its worker type's limit."""
    problem = limits.workers_problem(values.get("workers", SETTINGS["workers"].default),
                                     values.get("worker_type", SETTINGS["worker_type"].default))
    if problem:
        spec = SETTINGS["workers"]
        raise ConfigError(*((None, spec.option) if from_command_line else (path, "workers")),
                          problem)


def read_yaml(path: str) -> dict[str, Any]:
    """The settings in the YAML file ``path``, keyed by field name, each checked."""
    from hueyd.daemon import yamlfile
    values: dict[str, Any] = {}
    try:
        node, data = yamlfile.parse_mapping(yamlfile.read_text(path))
        for key, raw, line in yamlfile.entries(node, data, ""):
            if key in SECTIONS:
                if not isinstance(raw, dict | None):  # None: every sub-key commented out
                    raise ConfigError(path, key, f"expected a mapping with {SECTIONS[key]}, "
                                      f"got {yamlfile.kind_name(raw)}", line)
                sub = next((v for k, v in node.value if k.value == key), None)  # None: via <<
                entries = yamlfile.entries(sub, raw, f"{key}.") if raw else []
            else:
                entries = [(key, raw, line)]
            for yaml_key, value, at in entries:
                spec = BY_YAML_KEY.get(yaml_key)
                if spec is None:
                    raise ConfigError(path, str(yaml_key)[:60], _unknown(str(yaml_key)), at)
                values[spec.name] = spec.value(value, path, yaml_key, at)
    except yamlfile.Problem as problem:
        raise ConfigError(path, problem.key, problem.message, problem.line) from None
    return values


def _unknown(key: str) -> str:
    known = [k for k in BY_YAML_KEY if k.rpartition(".")[0] == key.rpartition(".")[0]]
    nested = {s.name: s.yaml for s in BY_YAML_KEY.values() if s.yaml != s.name}
    cli_only = {s.name: s for s in SETTINGS.values() if s.yaml is None and s.command_line}
    if key in nested:
        return f"unknown key (did you mean {nested[key]!r}?)"
    if key in cli_only:
        return f"not a YAML key: use the command line ({cli_only[key].command_line})"
    import difflib  # only for a mistake: not at every start
    close = difflib.get_close_matches(key.replace("-", "_"), known, n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown key{hint}"

