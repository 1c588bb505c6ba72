"""Every broken configuration as one line, through the real command line.

The broken-config table runs ``python -m hueyd check --config F`` in a subprocess, as an
operator or systemd would: exit 78, exactly one line on stderr naming the file and the key,
never a traceback, in bounded time and memory (special files, alias bombs, huge values).
"""
from __future__ import annotations

import os
import resource
import socket
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE = os.path.join(ROOT, "etc", "hueyd", "example.yaml")
HUEYD = [sys.executable, "-m", "hueyd"]

#: modules of the app directory the broken configs import
APP_MODULES = {
    "goodapp.py": "import hueyd\nhuey = hueyd.MemoryHuey('good')\nnotahuey = 42\n",
    "sqliteapp.py": "import os, hueyd\n"
                    "huey = hueyd.SqliteHuey('s', filename=os.path.join("
                    "os.path.dirname(__file__), 's.db'))\n",
    "boomapp.py": "import hueyd\n\nraise ValueError('boom at import')\n",
    "exitapp.py": "import sys\nsys.exit(3)\n",
    "syntaxapp.py": "huey = (\n",
    "needsdep.py": "import nosuchdependency\nhuey = None\n",
    # apps whose own code raises while hueyd looks at them
    "getattrapp.py": "def __getattr__(name):\n    raise ValueError('no ' + name)\n",
    "strapp.py": "class Boom(Exception):\n    def __str__(self):\n        raise RuntimeError()\n"
                 "\nraise Boom()\n",
    "classapp.py": "class Odd:\n    @property\n    def __class__(self):\n"
                   "        raise ValueError('no class')\n\nhuey = Odd()\n",
    "recursiveapp.py": "class Deep:\n    def __getattr__(self, name):\n"
                       "        return getattr(self, name + '_')\n\nhuey = Deep()\n",
}

#: a 298-byte alias bomb: 9^8 (43 million) strings once expanded
ALIAS_BOMB = "workers: [&a [l,l,l,l,l,l,l,l,l], " + ", ".join(
    f"&{n} [{','.join([f'*{p}'] * 9)}]" for p, n in zip("abcdefg", "bcdefgh")) + "]\n"
#: a 459-byte merge-key bomb: each mapping merges 8 copies of the one before
MERGE_BOMB = "pythonpath: [&a0 {k: 1, j: 2}, " + ", ".join(
    f"&a{i} {{<<: [{', '.join([f'*a{i - 1}'] * 8)}], x{i}: 1}}" for i in range(1, 8)) + "]\n"

GOOD = "app: goodapp.huey\n"
#: name -> (YAML text, words the one error line must contain)
BROKEN = {
    "syntax error": ("app: [goodapp.huey\n", ["invalid YAML"]),
    "tab indentation": (GOOD + "\tworkers: 2\n", ["invalid YAML"]),
    "top level a list": ("- app\n- goodapp.huey\n", ["top level", "a list"]),
    "top level a string": ("goodapp.huey\n", ["top level", "a string"]),
    "empty file": ("", ["app", "required"]),
    "missing app": ("workers: 2\n", ["app", "required"]),
    "unknown key": (GOOD + "workrs: 2\n", ["workrs", "did you mean 'workers'"]),
    "unknown logging key": (GOOD + "logging:\n  levl: INFO\n",
                            ["logging.levl", "did you mean 'logging.level'"]),
    "flat log level": (GOOD + "log_level: INFO\n", ["log_level", "'logging.level'"]),
    "dashed key": (GOOD + "worker-type: process\n", ["worker-type", "'worker_type'"]),
    "number key": (GOOD + "1: x\n", ["1", "unknown key"]),
    "command-line only key": (GOOD + "daemonize: true\n", ["daemonize", "--daemonize"]),
    "internal key": (GOOD + "config_path: /x.yaml\n", ["config_path", "unknown key"]),
    "duplicate key": (GOOD + "app: other.huey\n", ["app", "duplicate"]),
    "workers a word": (GOOD + "workers: many\n", ["workers", "integer"]),
    "workers zero": (GOOD + "workers: 0\n", ["workers", "at least 1"]),
    "workers negative": (GOOD + "workers: -1\n", ["workers", "at least 1"]),
    "workers fractional": (GOOD + "workers: 2.5\n", ["workers", "integer"]),
    "workers a boolean": (GOOD + "workers: true\n", ["workers", "integer"]),
    "worker type unknown": (GOOD + "worker_type: fiber\n", ["worker_type", "fiber"]),
    "backoff one": (GOOD + "backoff: 1\n", ["backoff", "greater than 1"]),
    "backoff below one": (GOOD + "backoff: 0.5\n", ["backoff", "greater than 1"]),
    "delay negative": (GOOD + "delay: -0.1\n", ["delay", "at least 0"]),
    "delay a word": (GOOD + "delay: fast\n", ["delay", "a number"]),
    "max delay negative": (GOOD + "max_delay: -1\n", ["max_delay", "at least 0"]),
    "scheduler interval 0": (GOOD + "scheduler_interval: 0\n", ["scheduler_interval", "1 to 60"]),
    "scheduler interval 61": (GOOD + "scheduler_interval: 61\n",
                              ["scheduler_interval", "1 to 60"]),
    "scheduler interval fractional": (GOOD + "scheduler_interval: 1.5\n",
                                      ["scheduler_interval", "integer"]),
    "health check interval 0": (GOOD + "health_check_interval: 0\n",
                                ["health_check_interval", "greater than 0"]),
    "task timeout negative": (GOOD + "task_timeout: -1\n", ["task_timeout", "greater than 0"]),
    "task timeout zero": (GOOD + "task_timeout: 0\n", ["task_timeout", "greater than 0"]),
    "task timeout infinite": (GOOD + "task_timeout: .inf\n", ["task_timeout", "a number"]),
    "shutdown timeout negative": (GOOD + "shutdown_timeout: -5\n", ["shutdown_timeout"]),
    "startup timeout zero": (GOOD + "startup_timeout: 0\n", ["startup_timeout"]),
    "periodic a word": (GOOD + "periodic: sometimes\n", ["periodic", "true or false"]),
    "utc a number": (GOOD + "utc: 1\n", ["utc", "true or false"]),
    "logging not a mapping": (GOOD + "logging: loud\n", ["logging", "mapping"]),
    "log level unknown": (GOOD + "logging:\n  level: LOUD\n", ["logging.level", "LOUD"]),
    "log format without message": (GOOD + "logging:\n  format: '%(asctime)s'\n",
                                   ["logging.format", "%(message)s"]),
    "metrics not a mapping": (GOOD + "metrics: 9808\n", ["metrics", "mapping with listen"]),
    "metrics unknown key": (GOOD + "metrics:\n  listn: 127.0.0.1:9808\n",
                            ["metrics.listn", "did you mean 'metrics.listen'"]),
    "metrics listen no port": (GOOD + "metrics:\n  listen: 127.0.0.1\n",
                               ["metrics.listen", "HOST:PORT"]),
    "metrics listen port 0": (GOOD + "metrics:\n  listen: 127.0.0.1:0\n",
                              ["metrics.listen", "1 to 65535"]),
    "metrics listen bare IPv6": (GOOD + "metrics:\n  listen: '::1:9808'\n",
                                 ["metrics.listen", "brackets"]),
    "pythonpath a number": (GOOD + "pythonpath: 3\n", ["pythonpath", "list"]),
    "pythonpath missing directory": (GOOD + "pythonpath: [/nonexistent/dir]\n",
                                     ["pythonpath", "/nonexistent/dir"]),
    "chdir missing directory": (GOOD + "chdir: /nonexistent/dir\n", ["chdir", "/nonexistent"]),
    "environment a list": (GOOD + "environment: [A, B]\n", ["environment", "mapping"]),
    "environment value a boolean": (GOOD + "environment:\n  DEBUG: yes\n",
                                    ["environment", "DEBUG"]),
    "environment value null": (GOOD + "environment:\n  DEBUG:\n", ["environment", "DEBUG"]),
    "redis url not a url": (GOOD + "redis_url: localhost:6379\n", ["redis_url", "redis://"]),
    "redis url and sqlite path": ("app: sqliteapp.huey\nredis_url: redis://127.0.0.1:1/0\n"
                                  "sqlite_path: /tmp/x.db\n", ["sqlite_path", "not both"]),
    "app not a path": ("app: goodapp\n", ["app", "module.attribute"]),
    "app a number": ("app: 3\n", ["app", "a string"]),
    "app module not found": ("app: nosuchmodule.huey\n", ["app", "nosuchmodule"]),
    "app attribute missing": ("app: goodapp.nothing\n", ["app", "nothing"]),
    "app not a Huey": ("app: goodapp.notahuey\n", ["goodapp.notahuey", "not a hueyd Huey"]),
    "app raises": ("app: boomapp.huey\n", ["boomapp", "ValueError: boom at import"]),
    "app exits": ("app: exitapp.huey\n", ["exitapp", "SystemExit"]),
    "app syntax error": ("app: syntaxapp.huey\n", ["syntaxapp", "SyntaxError"]),
    "app dependency missing": ("app: needsdep.huey\n", ["needsdep", "nosuchdependency"]),
    # what passed check and broke run, or hung, or printed a traceback (issue 14, item 8)
    "workers 100000": (GOOD + "workers: 100000\n", ["workers", "at most 5000"]),
    "workers 10**30": (GOOD + "workers: 1" + "0" * 30 + "\n", ["workers", "at most 5000"]),
    "workers of 5000 digits": (GOOD + "workers: " + "9" * 5000 + "\n",
                               ["workers", "invalid value"]),
    "process workers 300": (GOOD + "worker_type: process\nworkers: 300\n",
                            ["workers", "at most 256 process workers"]),
    "thread workers 2000": (GOOD + "workers: 2000\n", ["workers", "at most 1000 thread"]),
    "delay 1e308": (GOOD + "delay: 1.0e+308\n", ["delay", "at most 600"]),
    "delay NaN": (GOOD + "delay: .nan\n", ["delay", "a number"]),
    "max delay a day": (GOOD + "max_delay: 86400\n", ["max_delay", "at most 600"]),
    "max delay minus infinity": (GOOD + "max_delay: -.inf\n", ["max_delay", "a number"]),
    "backoff 1e300": (GOOD + "backoff: 1.0e+300\n", ["backoff", "at most 10"]),
    "health check interval a week": (GOOD + "health_check_interval: 604800\n",
                                     ["health_check_interval", "at most 3600"]),
    "shutdown timeout 1e308": (GOOD + "shutdown_timeout: 1.0e+308\n",
                               ["shutdown_timeout", "at most 86400"]),
    "task timeout 1e308": (GOOD + "task_timeout: 1.0e+308\n", ["task_timeout", "at most 86400"]),
    "startup timeout a year": (GOOD + "startup_timeout: 31536000\n",
                               ["startup_timeout", "at most 3600"]),
    "NUL character": (GOOD + "workers: 1\0\n", [":2:", "control character U+0000"]),
    "ESC character": (GOOD + "instance: \x1b[2Jx\n", [":2:", "control character U+001B"]),
    "DEL character": (GOOD + "# \x7f\n", [":2:", "control character U+007F"]),
    "NUL escape in a value": (GOOD + 'instance: "a\\0b"\n', ["instance", "U+0000"]),
    "newline escape in a name": (GOOD + 'instance: "a\\nREADY=1"\n', ["instance", "U+000A"]),
    "ESC escape in a path": (GOOD + 'logging:\n  file: "/tmp/\\e[31m.log"\n',
                             ["logging.file", "U+001B"]),
    "NUL escape in a path list": (GOOD + 'pythonpath: ["/srv", "/a\\0"]\n',
                                  ["pythonpath", "U+0000"]),
    # "nest": libyaml 0.2.5 (PyPI's PyYAML) stops at 1000 levels itself, in its own words
    "lists nested 5000 deep": (GOOD + "environment: " + "[" * 5000 + "]" * 5000 + "\n",
                               [":2:", "nest"]),
    "mappings nested 5000 deep": (GOOD + "environment: " + "{a: " * 5000 + "}" * 5000 + "\n",
                                  [":2:", "nest"]),
    "lists nested 100 deep": (GOOD + "environment: " + "[" * 100 + "]" * 100 + "\n",
                              [":2:", "nested more than 32 levels"]),
    "block mappings nested 40 deep": (GOOD + "".join(f"{'  ' * i}k{i}:\n" for i in range(40)),
                                      ["nested more than 32 levels"]),
    "alias bomb": (GOOD + ALIAS_BOMB, [":2:", "aliases are expanded"]),
    "merge-key bomb": (GOOD + MERGE_BOMB, [":2:", "aliases are expanded"]),
    "recursive alias": (GOOD + "environment: &x {a: *x}\n", ["*x", "contains it"]),
    "undefined alias": (GOOD + "workers: *nowhere\n", [":2:", "invalid YAML", "undefined"]),
    "two documents": (GOOD + "---\n" + GOOD, ["invalid YAML"]),
    "impossible date": (GOOD + "workers: 2001-13-45\n", [":2:", "workers", "invalid value"]),
    "bool tag on a word": (GOOD + "periodic: !!bool maybe\n", ["periodic", "invalid value"]),
    "float tag on a word": (GOOD + "delay: !!float soon\n", ["delay", "invalid value"]),
    "python object tag": (GOOD + "environment: !!python/object/apply:os.system [id]\n",
                          ["invalid YAML"]),
    "binary value": (GOOD + "instance: !!binary AAEC\n", ["instance", "a string"]),
    "unhashable key": (GOOD + "? [a, b]\n: 1\n", ["invalid YAML", "unhashable"]),
    "key of 1000 characters": (GOOD + "k" * 1000 + ": 1\n", ["unknown key"]),
    "key of 60 kB": (GOOD + "k" * 60000 + ": 1\n", ["invalid YAML"]),
    "value of 60 kB": (GOOD + "worker_type: " + "x" * 60000 + "\n", ["worker_type"]),
    "app path of 60 kB": ("app: " + "a." * 30000 + "huey\n", ["app", "longer than 500"]),
    "app path of 60 kB, not a path": ("app: " + "a" * 60000 + "!\n",
                                      ["app", "longer than 500"]),
    "file of 100 kB": (GOOD + "# comment\n" * 10000, ["larger than 64 KiB"]),
    "app __getattr__ raises": ("app: getattrapp.huey\n", ["getattrapp", "ValueError: no huey"]),
    "app __str__ of its error raises": ("app: strapp.huey\n", ["strapp", "Boom"]),
    "app __class__ raises": ("app: classapp.huey\n", ["classapp.huey", "not a hueyd Huey"]),
    "app attribute recurses": ("app: recursiveapp.huey.x\n", ["recursiveapp", "RecursionError"]),
}


@pytest.fixture(scope="module")
def app_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("apps")
    for name, source in APP_MODULES.items():
        (path / name).write_text(source)
    return path


def check(app_dir, *args: str, env: dict[str, str] | None = None,
          timeout: float = 60) -> subprocess.CompletedProcess:
    """``hueyd check ARGS``; ``done.seconds``: its wall time, ``done.cpu``: its CPU time."""
    environ = {**os.environ, "PYTHONPATH": ROOT, "PYTHONDONTWRITEBYTECODE": "1", **(env or {})}
    for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM"):
        environ.pop(name, None)
    before, started = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic()
    done = subprocess.run([*HUEYD, "check", *args], cwd=app_dir, env=environ, text=True,
                          errors="replace", capture_output=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    done.seconds = time.monotonic() - started
    done.cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return done


def assert_one_line_error(done: subprocess.CompletedProcess, *words: str) -> str:
    lines = done.stderr.splitlines()
    assert done.returncode == 78, (done.returncode, done.stderr)
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert len(lines[0]) < 600, lines[0][:600]
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


def assert_prompt(done: subprocess.CompletedProcess) -> None:
    """Under a second of work (CPU time: what a bomb burns); the wall time bound is looser
    only because two cores are shared with other test runs (a hang meets it too)."""
    assert done.cpu < 1.0 and done.seconds < 3.0, (done.cpu, done.seconds)


def test_the_table_has_at_least_thirty_broken_configs():
    assert len(BROKEN) >= 30


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_config_is_one_line_naming_file_and_key(app_dir, tmp_path, case):
    text, words = BROKEN[case]
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    done = check(app_dir, "--config", str(path), timeout=20)
    line = assert_one_line_error(done, *words)
    assert line.startswith(f"hueyd: {path}"), line
    assert_prompt(done)


def special_file(tmp_path, kind: str) -> str:
    """A path that is no configuration file, made real on this system."""
    path = tmp_path / "hueyd.yaml"
    if kind == "a FIFO":
        os.mkfifo(path)
    elif kind == "a socket":
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(path))  # closed with the test's process; the file stays
    elif kind == "/dev/zero":
        return "/dev/zero"
    elif kind == "a directory":
        path.mkdir()
    elif kind == "a symlink loop":
        path.symlink_to(tmp_path / "other.yaml")
        (tmp_path / "other.yaml").symlink_to(path)
    elif kind == "a file that vanished":  # its link is still there, the file is gone
        (tmp_path / "gone.yaml").write_text(GOOD)
        path.symlink_to(tmp_path / "gone.yaml")
        (tmp_path / "gone.yaml").unlink()
    elif kind == "binary garbage":
        path.write_bytes(bytes(range(256)) * 16)
    elif kind == "UTF-8 with NUL bytes":
        path.write_bytes(GOOD.encode() + b"\0" * 4096)
    return str(path)


SPECIAL_FILES = {"a FIFO": "a FIFO", "a socket": "a socket", "/dev/zero": "a character device",
                 "a directory": "a directory", "a symlink loop": "symbolic links",
                 "a file that vanished": "No such file",
                 "binary garbage": "UTF-8", "UTF-8 with NUL bytes": "U+0000"}


@pytest.mark.parametrize("kind", sorted(SPECIAL_FILES))
def test_no_config_file_hangs_or_floods(app_dir, tmp_path, kind):
    """A FIFO used to hang check forever and /dev/zero was read without end."""
    path = special_file(tmp_path, kind)
    done = check(app_dir, "--config", path, timeout=20)
    assert_one_line_error(done, f"hueyd: {path}", SPECIAL_FILES[kind])
    assert_prompt(done)


@pytest.mark.parametrize("path", ["a." * 50000 + "huey", "a" * 100000 + "!"],
                         ids=["dotted", "not a path"])
def test_an_app_path_of_100_kb_on_the_command_line(app_dir, path):
    done = check(app_dir, path, timeout=20)
    assert_one_line_error(done, "hueyd: app: longer than 500 characters")
    assert_prompt(done)


def test_unreadable_files(app_dir, tmp_path):
    missing = tmp_path / "missing.yaml"
    assert_one_line_error(check(app_dir, "--config", str(missing)), str(missing),
                          "No such file")
    assert_one_line_error(check(app_dir, "--config", str(tmp_path)), str(tmp_path),
                          "cannot read")
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"app: goodapp.huey\nworkers: \xff\n")
    assert_one_line_error(check(app_dir, "--config", str(binary)), str(binary), "UTF-8")


def test_yaml_errors_carry_the_line_number(app_dir, tmp_path):
    path = tmp_path / "lines.yaml"
    path.write_text("# comment\napp: goodapp.huey\n\nworkers: 0\n")
    assert_one_line_error(check(app_dir, "--config", str(path)), f"{path}:4: workers")
