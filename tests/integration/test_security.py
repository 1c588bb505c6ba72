"""Issue 14, items 3 and 4 against real ``hueyd run`` processes, the suite's redis-server
and real SQLite files: with ``secret_key_file`` set, a pickle planted in each stored place
(queue, schedule, revocation, result, key/value entry) is never unpickled and is reported
once; revocations are never unpickled even without a key; ``hueyd.instance()`` gives a
producer the daemon's storage and key; unsigned, exposed storage is warned about.
"""
from __future__ import annotations

import os
import pickle
import subprocess
import time
from pathlib import Path

import pytest

from hueyd import MessageError, TaskException
from hueyd.api.result import Result
from hueyd.api.task import Task
from tests.helpers import wait_for
from tests.integration.conftest import HUEYD, ROOT, App, write_config

KEY = "Zm9yIHRoZSB0ZXN0cyBvbmx5"
COMMON = ("-w", "2", "-c", "1", "-m", "0.2", "-d", "0.05")


class Plant:
    """Unpickling this runs code: it creates the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def planted(app: App) -> tuple[bytes, Path]:
    marker = app.out / "pwned"
    return pickle.dumps(Plant(marker)), marker


def key_file(app: App, text: str = KEY + "\n") -> str:
    path = app.dir / "blog.key"
    path.write_text(text)
    path.chmod(0o640)
    return str(path)


def signed_daemon(app: App, hueyd_proc, *args: str):
    """A daemon whose YAML sets secret_key_file; the test's producer signs with the key."""
    config = write_config(app, secret_key_file=key_file(app))
    app.huey.set_secret_key(KEY)
    daemon = hueyd_proc(app, "--config", config, *COMMON, *args)
    assert app.tasks.add(1, 2).get(blocking=True, timeout=15) == 3, daemon.output
    return daemon


def count(daemon, text: str, expected: int | None = None) -> int:
    """How often ``text`` is in the output; with ``expected``, once it got there (the
    storage is written before the line is logged)."""
    if expected:
        wait_for(lambda: daemon.output.count(text) >= expected, 15,
                 message=lambda: f"{expected} x {text!r} in\n{daemon.output}")
    return daemon.output.count(text)


@pytest.mark.parametrize("kind", ["redis", "sqlite"])
def test_planted_queue_and_schedule_entries_are_dead_letters_never_unpickled(
        kind, make_app, hueyd_proc):
    app = make_app(kind)
    daemon = signed_daemon(app, hueyd_proc)
    evil, marker = planted(app)
    app.huey.storage.enqueue(evil)
    app.huey.storage.add_to_schedule(evil + b" ", time.time() - 1)  # due at once
    assert app.tasks.add(2, 3).get(blocking=True, timeout=15) == 5
    wait_for(lambda: app.huey.storage.dead_letter_count() == 2, 15,
             message=lambda: f"two dead letters:\n{daemon.output}")
    letters = app.huey.storage.dead_letters()
    assert sorted(letter.reason for letter in letters) == ["missing signature"] * 2
    assert {letter.data for letter in letters} == {evil, evil + b" "}
    # reported: both are dead letters with the reason; the log says it at least once (a
    # second line within the rate limit's interval is counted into the next one)
    assert count(daemon, "as a dead letter: missing signature", 1) >= 1
    assert not marker.exists()


def test_a_message_signed_with_another_key_is_refused(make_app, hueyd_proc):
    app = make_app("redis")
    daemon = signed_daemon(app, hueyd_proc)
    from hueyd.api.serializer import Serializer
    forged = Serializer(secret_key="another key").serialize(Plant(app.out / "pwned"))
    app.huey.storage.enqueue(forged)
    wait_for(lambda: app.huey.storage.dead_letter_count() == 1, 15, message="a dead letter")
    assert app.huey.storage.dead_letters()[0].reason == "bad signature"
    assert count(daemon, "bad signature", 1) == 1
    assert not (app.out / "pwned").exists()


@pytest.mark.parametrize("signed", [True, False], ids=["signed", "unsigned"])
@pytest.mark.parametrize("kind", ["redis", "sqlite"])
def test_planted_revocations_are_never_unpickled_and_reported_once(
        kind, signed, make_app, hueyd_proc):
    app = make_app(kind)
    daemon = (signed_daemon(app, hueyd_proc) if signed else
              hueyd_proc(app, "tasksapp.huey", *COMMON))
    evil, marker = planted(app)
    one = app.tasks.add.s(4, 5)
    app.huey.storage.put_data(one.revoke_id, evil)
    assert app.huey.enqueue(one).get(blocking=True, timeout=15) == 9  # not revoked
    every = "rt:" + app.huey.registry.task_to_string(app.tasks.add.task_class)
    app.huey.storage.put_data(every, evil)
    assert [app.tasks.add(i, i).get(blocking=True, timeout=15) for i in range(3)] == [0, 2, 4]
    assert not marker.exists()
    assert count(daemon, f"removed unreadable revocation entry {one.revoke_id}", 1) == 1
    assert count(daemon, f"removed unreadable revocation entry {every}", 1) == 1
    assert not app.huey.storage.has_data_for_key(every)
    # a revocation written now is plain data, and it still revokes
    late = app.tasks.add.s(1, 1)
    app.huey.revoke(late)
    assert app.huey.storage.peek_data(late.revoke_id) == b'{"until":null,"once":false}'
    assert app.huey.is_revoked(late)


@pytest.mark.parametrize("kind", ["redis", "sqlite"])
def test_planted_results_and_key_value_entries_are_refused_unread(kind, make_app, hueyd_proc):
    app = make_app(kind)
    daemon = signed_daemon(app, hueyd_proc)
    evil, marker = planted(app)
    app.huey.storage.put_data("forged-result", evil, is_result=True)
    app.huey.storage.put_data("forged-entry", evil)
    # read by a producer: refused with MessageError, once
    with pytest.raises(MessageError, match="missing signature"):
        Result(app.huey, Task(id="forged-result")).get(preserve=True)
    with pytest.raises(MessageError, match="missing signature"):
        app.huey.get("forged-entry", peek=True)
    # read by task code inside the consumer: the task fails, one error in the log
    for key, is_result in (("forged-result", True), ("forged-entry", False)):
        with pytest.raises(TaskException, match="missing signature"):
            app.tasks.read_stored(key, is_result).get(blocking=True, timeout=15)
    assert count(daemon, "MessageError: missing signature", 2) == 2
    assert not marker.exists()


def producer(app: App, code: str, **env: str) -> subprocess.CompletedProcess:
    """A separate Python process, as a web application would be: it imports the app from
    its own path and environment (which point elsewhere than the daemon's YAML)."""
    environ = {**os.environ, **app.env, **env}
    ran = subprocess.run([HUEYD[0], "-c", code], cwd="/", env=environ, capture_output=True,
                         text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr
    return ran


@pytest.mark.parametrize("kind", ["redis", "sqlite"])
def test_a_producer_using_hueyd_instance_and_the_daemon_agree(kind, make_app, hueyd_proc,
                                                              redis_server, tmp_path):
    app = make_app(kind)
    # the app's code points at A (its HUEYD_TEST_STORAGE); the YAML moves the queue to B
    if kind == "redis":
        where = {"redis_url": f"redis://127.0.0.1:{redis_server.port}/3"}
    else:
        where = {"sqlite_path": str(tmp_path / "server.db")}
    config = write_config(app, pythonpath=f"[{app.dir}]", secret_key_file=key_file(app),
                          **where)
    daemon = hueyd_proc(app, "--config", config, *COMMON)
    if kind == "redis":  # a web process that imported the app before asking
        first, path = "import tasksapp, hueyd", f"{app.dir}{os.pathsep}{ROOT}"
    else:  # one that finds the app through the YAML's pythonpath
        first, path = "import hueyd", str(ROOT)
    ran = producer(app, f"""{first}
huey = hueyd.instance(config={config!r})
import tasksapp
assert huey is tasksapp.huey and hueyd.instance(config={config!r}) is huey
print(tasksapp.add(20, 22).get(blocking=True, timeout=15))
tasksapp.add.schedule((1, 1), delay=3600)  # the consumer moves it to the schedule
import time
deadline = time.monotonic() + 15
while not huey.storage.scheduled_items() and time.monotonic() < deadline:
    time.sleep(0.05)
print(huey.storage.scheduled_items()[0][:4].decode())
""", PYTHONPATH=path)
    assert ran.stdout.split() == ["42", "HDS1"], (ran.stdout, daemon.output)
    assert app.huey.storage.queue_size() == app.huey.storage.schedule_size() == 0  # not A
    assert "executing tasksapp.add" in daemon.output


def test_hueyd_instance_errors_are_one_line_without_the_password(make_app, tmp_path):
    app = make_app("redis")
    config = write_config(app, redis_url="reddis://:s3cr3t-Pa55@127.0.0.1:1/0")
    ran = subprocess.run([HUEYD[0], "-c", f"import hueyd; hueyd.instance(config={config!r})"],
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True,
                         text=True, timeout=60)
    assert ran.returncode == 1 and "s3cr3t-Pa55" not in ran.stderr
    assert "hueyd.daemon.config.ConfigError: hueyd: " in ran.stderr, ran.stderr
    relative = write_config(app, sqlite_path="queue.db")
    code = f"import hueyd\ntry: hueyd.instance(config={relative!r})\n" \
           "except hueyd.ConfigError as e: print(e)"
    ran = subprocess.run([HUEYD[0], "-c", code], env={**os.environ, "PYTHONPATH": str(ROOT)},
                         capture_output=True, text=True, timeout=60)
    assert "sqlite_path: queue.db is relative" in ran.stdout, ran


def check(app: App, config: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*HUEYD, "check", "--config", config, *args], capture_output=True,
                          text=True, timeout=60, cwd=app.dir,
                          env={**os.environ, **app.env, "PYTHONPATH": str(ROOT)})


def test_check_and_start_warn_about_unsigned_exposed_storage_and_readable_secrets(
        make_app, hueyd_proc, tmp_path):
    app = make_app("sqlite")
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)  # like /tmp
    config = write_config(app, sqlite_path=str(shared / "queue.db"))
    ran = check(app, config)
    assert ran.returncode == 0, ran.stderr
    warnings = ran.stderr.splitlines()
    assert warnings == [f"hueyd: warning: messages are not signed and the SQLite file "
                        f"{shared / 'queue.db'} is in {shared}, which every user may write "
                        "to: whoever can write there can make this consumer run code; set "
                        "secret_key_file (man 8 hueyd, SECURITY)"], ran.stderr
    key = key_file(app)
    os.chmod(key, 0o644)
    ran = check(app, config, "--secret-key-file", key)
    assert ran.stderr.splitlines() == [f"hueyd: warning: {key} holds the signing key and "
                                       f"every user can read it: chmod o-r {key}"]
    os.chmod(key, 0o640)
    assert check(app, config, "--secret-key-file", key).stderr == ""
    daemon = hueyd_proc(app, "--config", config, *COMMON)
    assert count(daemon, "WARNING:hueyd:", 1) == 1, daemon.output


def test_redis_without_a_password_is_warned_about(make_app):
    app = make_app("redis")
    ran = check(app, write_config(app))
    assert ran.returncode == 0
    assert "messages are not signed and Redis at 127.0.0.1:" in ran.stderr
    assert "has no password" in ran.stderr


@pytest.mark.parametrize("text,reason", [
    ("", "is empty"), ("\n\n", "is empty"),
    ("x" * 5000, "longer than 4096 bytes: not a key file")], ids=["empty", "newlines", "long"])
def test_a_bad_key_file_exits_78_naming_the_key_and_the_file(make_app, text, reason):
    app = make_app("sqlite")
    key = key_file(app, text)
    ran = check(app, write_config(app, secret_key_file=key))
    assert ran.returncode == 78
    assert ran.stderr.splitlines() == [f"hueyd: {app.dir / 'hueyd.yaml'}: secret_key_file: "
                                       f"{key}: {reason}"]


def test_a_missing_or_special_key_file_exits_78_at_once(make_app):
    app = make_app("sqlite")
    fifo = app.dir / "fifo"
    os.mkfifo(fifo)
    for path, reason in ((app.dir / "none", "cannot read: No such file or directory"),
                         (fifo, "cannot read: not a regular file (a FIFO)"),
                         ("/dev/zero", "cannot read: not a regular file (a character device)")):
        started = time.monotonic()
        ran = check(app, write_config(app, secret_key_file=str(path)))
        assert (ran.returncode, ran.stderr.strip()) == (
            78, f"hueyd: {app.dir / 'hueyd.yaml'}: secret_key_file: {path}: {reason}")
        assert time.monotonic() - started < 10
