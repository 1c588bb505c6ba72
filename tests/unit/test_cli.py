"""The command line: huey_consumer's options, one-line errors with exit 78, gevent's
monkey-patching before the app, and --daemonize (real processes, real signals)."""
from __future__ import annotations

import importlib.util
import logging
import os
import signal
import stat
import subprocess
import sys
import uuid

import pytest

from hueyd import cli
from hueyd.daemon import logs
from tests.helpers import ROOT, wait_for

HUEYD = [sys.executable, "-m", "hueyd"]
SYSTEMD_VARIABLES = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "INVOCATION_ID",
                     "JOURNAL_STREAM")


def parse(*argv: str):
    return cli.config_from(cli.build_parser().parse_args(argv))


def environ(**extra: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": ROOT, "PYTHONDONTWRITEBYTECODE": "1"}
    for name in SYSTEMD_VARIABLES:
        env.pop(name, None)
    return {**env, **extra}


def hueyd(*args: str, cwd=None, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([*HUEYD, *args], cwd=cwd or ROOT, env=environ(**extra), text=True,
                          capture_output=True, timeout=60, stdin=subprocess.DEVNULL)


# -- options ---------------------------------------------------------------------------
def test_every_huey_consumer_option_short_form():
    config = parse("run", "a.b", "-l", "/tmp/h.log", "-v", "-w", "4", "-k", "process", "-n",
                   "-d", "0.5", "-m", "5", "-b", "2", "-c", "3", "-C", "-s", "30", "-o")
    assert (config.app, config.log_file, config.log_level) == ("a.b", "/tmp/h.log", "DEBUG")
    assert (config.workers, config.worker_type, config.periodic) == (4, "process", False)
    assert (config.delay, config.max_delay, config.backoff) == (0.5, 5.0, 2.0)
    assert (config.health_check_interval, config.health_check) == (3.0, False)
    assert (config.scheduler_interval, config.utc) == (30, False)


def test_every_huey_consumer_option_long_form():
    config = parse("run", "a.b", "--logfile", "/tmp/h.log", "--quiet", "--workers", "2",
                   "--worker-type", "greenlet", "--no-periodic", "--delay", "0.2",
                   "--max-delay", "1", "--backoff", "1.5", "--health-check-interval", "7",
                   "--disable-health-check", "--scheduler-interval", "5", "--utc",
                   "--shutdown-timeout", "9", "--task-timeout", "11", "--daemonize",
                   "--pidfile", "/tmp/h.pid")
    assert (config.log_level, config.workers, config.worker_type) == ("WARNING", 2, "greenlet")
    assert (config.delay, config.max_delay, config.backoff) == (0.2, 1.0, 1.5)
    assert (config.health_check_interval, config.scheduler_interval, config.utc) == (7, 5, True)
    assert (config.shutdown_timeout, config.task_timeout) == (9.0, 11.0)
    assert (config.daemonize, config.pidfile) == (True, "/tmp/h.pid")


def test_the_command_line_overrides_the_yaml(tmp_path):
    path = tmp_path / "hueyd.yaml"
    path.write_text("app: from.yaml\nworkers: 3\nperiodic: true\nutc: false\n"
                    "logging:\n  level: ERROR\n")
    config = parse("run", "--config", str(path), "-w", "5", "-n", "-u")
    assert (config.app, config.workers, config.periodic, config.utc) == \
        ("from.yaml", 5, False, True)
    assert config.log_level == "ERROR" and config.config_path == str(path)
    assert parse("run", "from.cli", "--config", str(path), "-v").app == "from.cli"
    assert parse("run", "from.cli", "--config", str(path), "-v").log_level == "DEBUG"


@pytest.mark.parametrize("args,words", [
    (["run", "a.b", "-w"], ["-w/--workers", "expected one argument"]),
    (["run", "a.b", "-x"], ["unrecognized arguments: -x"]),
    (["run", "a.b", "-s", "soon"], ["-s/--scheduler-interval", "integer", "soon"]),
    (["run", "a.b", "-c", "-1"], ["-c/--health-check-interval", "greater than 0"]),
    (["run", "a.b", "--task-timeout", "0"], ["--task-timeout", "greater than 0"]),
    (["run", "a.b", "c.d"], ["unrecognized arguments: c.d"]),
    (["run", "a.b", "-l", "/nonexistent/dir/h.log"], ["-l/--logfile", "cannot open"]),
    (["dead-letter", "burn", "a.b"], ["invalid choice: 'burn'"]),
    (["dead-letter", "list", "a.b", "--limit", "x"], ["--limit", "invalid int value"]),
    (["frobnicate"], ["invalid choice: 'frobnicate'"]),
    ([], ["a command is required"]),
])
def test_usage_errors_are_one_line_and_exit_78(args, words):
    done = hueyd(*args)
    lines = done.stderr.splitlines()
    assert done.returncode == 78, done
    assert len(lines) == 1 and "usage:" not in done.stderr and "Traceback" not in done.stderr
    for word in words:
        assert word in lines[0], lines


def test_importing_the_command_line_stays_light():
    probe = ("import sys, hueyd.cli\nprint([m for m in ('threading', 'logging', 'redis', "
             "'gevent', 'hueyd.api.huey', 'hueyd.consumer.consumer') if m in sys.modules])")
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.stdout.strip() == "[]", done.stderr


def test_version_and_help_exit_0():
    import hueyd as package
    done = hueyd("--version")
    assert (done.returncode, done.stdout.strip()) == (0, f"hueyd {package.__version__}")
    done = hueyd("run", "--help")
    assert done.returncode == 0
    for flag in ("-l", "--logfile", "-v", "--verbose", "-q", "--quiet", "-w", "--workers",
                 "-k", "--worker-type", "-n", "--no-periodic", "-d", "--delay", "-m",
                 "--max-delay", "-b", "--backoff", "-c", "--health-check-interval", "-C",
                 "--disable-health-check", "-s", "--scheduler-interval", "-u", "--utc",
                 "-o", "--localtime", "--config", "--daemonize", "--pidfile",
                 "--shutdown-timeout", "--task-timeout"):
        assert f" {flag}" in done.stdout, flag


def test_check_with_app_only(tmp_path):
    (tmp_path / "memapp.py").write_text("import hueyd\nhuey = hueyd.MemoryHuey('m')\n")
    done = hueyd("check", "memapp.huey", "-w", "3", "-k", "process", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ("hueyd: configuration from the command line is valid "
                           "(app memapp.huey, 3 process workers)\n")


def test_status_and_dead_letter_reach_the_admin_commands(tmp_path):
    (tmp_path / "sqlapp.py").write_text(
        "import hueyd\nhuey = hueyd.SqliteHuey('s', filename='q.db')\n")
    for args in (["status", "sqlapp.huey", "--json"], ["dead-letter", "list", "sqlapp.huey"]):
        done = hueyd(*args, cwd=tmp_path)
        assert done.returncode == 0 and done.stdout and not done.stderr, done
    done = hueyd("status", "nosuch_module_z.huey", cwd=tmp_path)
    assert done.returncode == 78 and "nosuch_module_z" in done.stderr, done


def test_an_internal_error_is_logged_with_its_traceback_and_exits_1(tmp_path, monkeypatch,
                                                                    capsys):
    from hueyd.daemon import master

    def broken(config, huey, run_options=None):
        raise RuntimeError("a bug in the master")

    monkeypatch.setattr(master, "run", broken)
    module = f"okapp_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text("import hueyd\nhuey = hueyd.MemoryHuey('m')\n")
    root = logging.getLogger()
    before = (list(root.handlers), root.level, list(sys.path), os.getcwd())
    try:
        code = cli.main(["run", f"{module}.huey", "--config", write_yaml(tmp_path, module)])
        err = capsys.readouterr().err
    finally:
        for handler in [h for h in root.handlers if isinstance(h, logs.OWN_HANDLERS)]:
            root.removeHandler(handler)
        root.setLevel(before[1])
        sys.path[:] = before[2]
        os.chdir(before[3])
        logging.captureWarnings(False)
        sys.modules.pop(module, None)
    assert code == 1
    assert "ERROR:hueyd:" in err and "internal error" in err
    assert "RuntimeError: a bug in the master" in err and "Traceback" in err


def write_yaml(tmp_path, module: str) -> str:
    path = tmp_path / "hueyd.yaml"
    path.write_text(f"app: {module}.huey\npythonpath: [{tmp_path}]\n")
    return str(path)


# -- real daemons ----------------------------------------------------------------------
class Started:
    """``hueyd run`` in a session of its own, stopped by PID and process group."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []
        self.pids: list[int] = []

    def __call__(self, *args: str, cwd, **extra: str) -> subprocess.Popen:
        with open(cwd / "hueyd.out", "wb") as out:
            proc = subprocess.Popen([*HUEYD, "run", *args], cwd=cwd, env=environ(**extra),
                                    stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(proc)
        return proc

    def cleanup(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        for pid in self.pids:  # detached daemons: their own session
            if alive(pid):
                os.killpg(os.getpgid(pid), signal.SIGKILL)


@pytest.fixture
def started():
    daemons = Started()
    yield daemons
    daemons.cleanup()


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


PROBE_APP = """\
import os, sys
from gevent import monkey
with open(os.environ["PROBE_OUT"], "w") as out:
    out.write(repr((monkey.is_module_patched("threading"), monkey.is_module_patched("socket"),
                    "redis" in sys.modules)))
import hueyd
huey = hueyd.MemoryHuey("probe")
"""


@pytest.mark.parametrize("source", ["option", "yaml", "thread"])
def test_gevent_patches_before_the_app_is_imported(tmp_path, started, source):
    pytest.importorskip("gevent")
    (tmp_path / "probeapp.py").write_text(PROBE_APP)
    out = tmp_path / "probe.out"
    if source == "option":
        args = ["probeapp.huey", "-k", "greenlet"]
    else:
        kind = "greenlet" if source == "yaml" else "thread"
        (tmp_path / "hueyd.yaml").write_text(f"app: probeapp.huey\nworker_type: {kind}\n")
        args = ["--config", "hueyd.yaml"]
    proc = started(*args, "-n", cwd=tmp_path, PROBE_OUT=str(out))
    output = tmp_path / "hueyd.out"
    wait_for(lambda: "consumer for probe started" in output.read_text(), 30,
             message="the consumer's start")
    patched = source != "thread"
    assert out.read_text() == repr((patched, patched, False))
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(15) == 0, output.read_text()


DAEMON_APP = """\
import os, hueyd
huey = hueyd.SqliteHuey("detached", filename=os.path.join(os.path.dirname(__file__), "q.db"))

@huey.task()
def where():
    return os.getpid()
"""


def load_module(path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_daemonize_detaches_writes_the_pidfile_reloads_in_place_and_stops(tmp_path,
                                                                          started):
    pytest.importorskip("daemon")
    (tmp_path / "detachedapp.py").write_text(DAEMON_APP)
    pidfile, logfile = tmp_path / "hueyd.pid", tmp_path / "hueyd.log"
    proc = started("detachedapp.huey", "-n", "--daemonize", "--pidfile", str(pidfile),
                   "-l", str(logfile), cwd=tmp_path)
    assert proc.wait(15) == 0, (tmp_path / "hueyd.out").read_text()  # the foreground returns
    pid = wait_for(lambda: pidfile.exists() and int(pidfile.read_text() or 0), 15,
                   message="the pidfile")
    started.pids.append(pid)
    assert pid != proc.pid and alive(pid)
    app = load_module(tmp_path / "detachedapp.py", "detachedapp")  # task names match
    try:
        assert app.where().get(blocking=True, timeout=15) == pid
        assert stat.S_IMODE(os.stat(logfile).st_mode) == 0o640  # umask 0027
        assert "app detachedapp.huey" in logfile.read_text()

        os.kill(pid, signal.SIGHUP)  # re-executes in place: same PID, same pidfile
        wait_for(lambda: logfile.read_text().count("app detachedapp.huey") == 2, 15,
                 message="the re-executed image's start")
        assert app.where().get(blocking=True, timeout=15) == pid
        assert int(pidfile.read_text()) == pid

        os.kill(pid, signal.SIGINT)
        wait_for(lambda: not alive(pid), 15, message="the daemon to exit")
        assert not pidfile.exists()
        assert "hueyd exiting (code 0)" in logfile.read_text()
    finally:
        app.huey.storage.close()


@pytest.mark.parametrize("variable", ["NOTIFY_SOCKET", "INVOCATION_ID"])
def test_daemonize_is_refused_under_systemd(tmp_path, variable):
    done = hueyd("run", "a.b", "--daemonize", "-l", str(tmp_path / "x.log"),
                 **{variable: "/run/systemd/notify"})
    assert done.returncode == 78 and len(done.stderr.splitlines()) == 1, done
    assert f"--daemonize: refused: ${variable} is set" in done.stderr


def test_daemonize_problems_reach_the_terminal_before_detaching(tmp_path):
    done = hueyd("run", "a.b", "--daemonize")
    assert done.returncode == 78 and "needs -l/--logfile" in done.stderr, done
    done = hueyd("run", "nosuch_module_y.huey", "--daemonize", "-l", str(tmp_path / "x.log"))
    assert done.returncode == 78 and len(done.stderr.splitlines()) == 1, done
    assert "nosuch_module_y" in done.stderr
    pidfile = tmp_path / "held.pid"
    pidfile.write_text(f"{os.getpid()}\n")  # a live process holds it
    done = hueyd("run", "a.b", "--daemonize", "-l", str(tmp_path / "x.log"), "--pidfile",
                 str(pidfile))
    assert done.returncode == 78 and f"already runs as PID {os.getpid()}" in done.stderr


def test_a_one_line_error_under_journald_has_the_error_priority(tmp_path):
    err = tmp_path / "stderr"
    err.write_text("")
    st = os.stat(err)
    with open(err, "w") as stream:
        done = subprocess.run([*HUEYD, "check", "--config", str(tmp_path / "none.yaml")],
                              cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=stream, timeout=60,
                              env=environ(JOURNAL_STREAM=f"{st.st_dev}:{st.st_ino}"))
    assert done.returncode == 78
    assert err.read_text() == f"<3>hueyd: {tmp_path / 'none.yaml'}: cannot read: " \
                              "No such file or directory\n"


def test_daemonize_without_python_daemon_is_a_config_error(tmp_path, monkeypatch):
    from hueyd.daemon import daemonize
    from hueyd.daemon.config import ConfigError

    monkeypatch.setitem(sys.modules, "daemon", None)  # a host without python3-daemon
    config = parse("run", "a.b", "--daemonize", "-l", str(tmp_path / "h.log"))
    with pytest.raises(ConfigError, match="--daemonize: needs python-daemon"):
        daemonize.check(config, {})
