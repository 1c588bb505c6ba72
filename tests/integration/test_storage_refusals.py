"""A storage that refuses the daemon for good (issue 14, item 9): a wrong or missing Redis
password, a file that is not a database, a read-only file or folder. No retry helps, so
``check`` and ``run`` say so in one line naming the cause and exit 78 (which systemd does
not restart), never retry for startup_timeout, never print a traceback or a password.
An unreachable Redis stays transient: run waits for it, check only warns.

Real parts only: a redis-server of the test's own with ``requirepass`` (restarted with
another password under a running daemon), real SQLite files, and a read-only file made
real by running hueyd as ``nobody`` (the suite runs as root, who may write anything).
"""
from __future__ import annotations

import os
import pwd
import shutil
import sqlite3
import tempfile
from pathlib import Path

import pytest

from tests.helpers import ROOT as HELPERS_ROOT
from tests.helpers import RedisServer, free_port
from tests.integration.conftest import write_config
from tests.integration.test_cli_errors import assert_config_error, run_hueyd

SECRET = "first-Secret-8b1f"
OTHER = "second-Secret-4c2e"
GUESS = "wrong-Guess-77a0"


@pytest.fixture
def locked_redis():
    """A redis-server of this test's own that requires SECRET."""
    server = RedisServer(password=SECRET).start()
    try:
        yield server
    finally:
        server.cleanup()


def url(port: int, password: str | None = None) -> str:
    return f"redis://{f':{password}@' if password else ''}127.0.0.1:{port}/0"


def error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if "ERROR" in line]


def assert_run_refused(done, *words: str) -> str:
    """``hueyd run``: exit 78 at once (not after startup_timeout), one error line with
    ``words``, no traceback, no password."""
    assert done.returncode == 78, (done.returncode, done.stderr)
    assert done.seconds < 5.0, done.seconds  # startup_timeout is 30 s
    assert "Traceback" not in done.stderr, done.stderr
    errors = error_lines(done.stderr)
    assert len(errors) == 1, done.stderr
    for word in words:
        assert word in errors[0], (word, errors[0])
    return errors[0]


def assert_no_secret(done) -> None:
    for secret in (SECRET, OTHER, GUESS):
        assert secret not in done.stdout + done.stderr, secret


def redis_cases(locked: RedisServer, open_server_port: int) -> dict[str, tuple[str, str]]:
    return {"no password": (url(locked.port), "a password is required"),
            "wrong password": (url(locked.port, GUESS), "wrong password"),
            "password for a server without one": (url(open_server_port, SECRET),
                                                   "the server has none")}


def accepts_any_password(server: RedisServer) -> bool:
    import redis
    client = redis.Redis(port=server.port, password=SECRET)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


@pytest.mark.parametrize("command", ["check", "run"])
@pytest.mark.parametrize("case", ["no password", "wrong password",
                                  "password for a server without one"])
def test_a_refused_redis_password_is_one_line_and_exit_78(make_app, locked_redis,
                                                          redis_server, command, case):
    if case == "password for a server without one" and accepts_any_password(redis_server):
        pytest.skip("this redis-py authenticates with HELLO, which a server without a "
                    "password accepts whatever the password")
    app = make_app("sqlite")
    redis_url, cause = redis_cases(locked_redis, redis_server.port)[case]
    path = write_config(app, redis_url=redis_url, startup_timeout=30)
    done = run_hueyd(app, ["--config", path], command)
    if command == "check":
        assert_config_error(done, "redis_url: storage refused")
        assert cause in done.stderr and done.stderr.startswith(f"hueyd: {path}: ")
    else:
        assert_run_refused(done, "redis_url: storage refused", cause)
    assert_no_secret(done)


def test_redis_restarted_with_another_password_stops_the_daemon(make_app, hueyd_proc):
    """Used to die with a traceback and exit 1 (systemd then restarted it every 2 s)."""
    server = RedisServer(password=SECRET).start()
    try:
        app = make_app("sqlite")
        daemon = hueyd_proc(app, "--config", write_config(app, redis_url=url(server.port,
                                                                             SECRET)))
        daemon.wait_for_log("started with", timeout=15)
        server.stop()
        server.password = OTHER
        server.start()
        assert daemon.wait(30) == 78, daemon.output
    finally:
        server.cleanup()
    output = daemon.output
    assert "Traceback" not in output, output
    refused = [line for line in error_lines(output) if "storage refused" in line]
    assert len(refused) == 1 and "wrong password" in refused[0], output
    for secret in (SECRET, OTHER):
        assert secret not in output


def test_an_unreachable_redis_stays_transient(make_app):
    """check warns and passes (run waits up to startup_timeout, then exits 69:
    test_supervision); --offline does not even try."""
    app = make_app("sqlite")
    path = write_config(app, redis_url=url(free_port(), SECRET), startup_timeout=7)
    os.chmod(path, 0o600)  # it holds a password: readable by others, check would warn
    done = run_hueyd(app, ["--config", path], "check")
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("\n") == 1 and "warning: the storage is not ready" in \
        done.stderr and "waits up to startup_timeout (7s)" in done.stderr, done.stderr
    assert "is valid" in done.stdout
    assert_no_secret(done)
    offline = run_hueyd(app, ["--config", path, "--offline"], "check")
    assert offline.returncode == 0 and offline.stderr == "", offline.stderr


def test_check_before_systemd_made_the_state_folder_only_warns(make_app):
    """The README's steps run check before the first start creates /var/lib/hueyd/NAME."""
    app = make_app("sqlite")
    folder = app.dir / "state"
    path = write_config(app, sqlite_path=str(folder / "queue.db"))
    done = run_hueyd(app, ["--config", path], "check")
    assert done.returncode == 0, done.stderr
    assert f"its folder {folder} does not exist yet" in done.stderr and "is valid" in done.stdout
    assert not folder.exists()


@pytest.mark.parametrize("command", ["check", "run"])
def test_a_file_that_is_not_a_database(make_app, command):
    """Used to pass check, then make run retry for 30 s and exit 69, forever."""
    app = make_app("sqlite")
    garbage = app.dir / "garbage.db"
    garbage.write_bytes(bytes(range(256)) * 64)
    path = write_config(app, sqlite_path=str(garbage), startup_timeout=30)
    done = run_hueyd(app, ["--config", path], command)
    if command == "check":
        assert_config_error(done, f"sqlite_path: storage refused: sqlite {garbage}: "
                            "file is not a database")
        offline = run_hueyd(app, ["--config", path, "--offline"], "check")
        assert offline.returncode == 0, offline.stderr
    else:
        assert_run_refused(done, "sqlite_path: storage refused", "file is not a database")


@pytest.fixture
def public_dir():
    """A folder ``nobody`` can enter (pytest's tmp_path is root's alone)."""
    path = Path(tempfile.mkdtemp(prefix="hueyd-ro-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def as_nobody() -> dict:
    """subprocess arguments that run the child as nobody, with no group of root's."""
    entry = pwd.getpwnam("nobody")
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


@pytest.mark.parametrize("command", ["check", "run"])
@pytest.mark.parametrize("folder_mode,cause", [
    (0o555, "its folder {folder} is not writable"),
    (0o777, "the file is not writable"),
], ids=["read-only folder", "read-only file"])
def test_a_read_only_database_names_the_file_or_its_folder(make_app, public_dir, command,
                                                            folder_mode, cause):
    folder = public_dir / "data"
    folder.mkdir()
    database = folder / "queue.db"
    with sqlite3.connect(database) as conn:  # a real database, in WAL mode as hueyd makes it
        conn.execute("PRAGMA journal_mode = wal")
        conn.execute("CREATE TABLE t (x)")
    conn.close()
    database.chmod(0o444)
    folder.chmod(folder_mode)
    app = make_app("sqlite")
    shutil.copy(app.dir / "tasksapp.py", public_dir)
    shutil.copy(app.dir / "appversion.py", public_dir)
    # hueyd too: the checkout may sit in a folder only root can enter (a CI clone in mktemp -d)
    shutil.copytree(os.path.join(HELPERS_ROOT, "hueyd"), public_dir / "hueyd",
                    ignore=shutil.ignore_patterns("__pycache__"))
    app.dir = public_dir  # the same app, where nobody can read it
    app.env["HUEYD_TEST_OUT"] = str(public_dir)
    path = write_config(app, sqlite_path=str(database), startup_timeout=30)
    done = run_hueyd(app, ["--config", path], command, **as_nobody())
    expected = cause.format(folder=folder)
    if command == "check":
        assert_config_error(done, f"sqlite_path: storage refused: sqlite {database}: "
                            f"{expected}")
    else:
        assert_run_refused(done, "sqlite_path: storage refused", expected)
