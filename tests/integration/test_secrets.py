"""Issue 14, item 5: a Redis password never reaches anything hueyd prints. Each message
that can name a URL is produced for real (``hueyd check``, ``hueyd run``'s log on stderr
and in its file, STATUS= over a real NOTIFY_SOCKET after a refused reload, ``hueyd
status``) with the password ``s3cr3t-Pa55``, and searched for it.
"""
from __future__ import annotations

import os
import signal
import subprocess

import pytest
import redis

from hueyd.daemon.config import REDIS_SCHEMES
from tests.helpers import free_port
from tests.integration.conftest import HUEYD, ROOT, App, write_config

PASSWORD = "s3cr3t-Pa55"
USER = "h2-secrets"


@pytest.fixture
def password_url(redis_server, redis_url):
    """A URL that logs in to the suite's redis-server as a user with ``PASSWORD``."""
    client = redis.Redis(port=redis_server.port)
    client.execute_command("ACL", "SETUSER", USER, "on", f">{PASSWORD}", "~*", "&*", "+@all")
    yield f"redis://{USER}:{PASSWORD}@127.0.0.1:{redis_server.port}/0"
    client.execute_command("ACL", "DELUSER", USER)
    client.close()


def hueyd(app: App, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **app.env, "PYTHONPATH": f"{app.dir}{os.pathsep}{ROOT}"}
    env.pop("NOTIFY_SOCKET", None)
    return subprocess.run([*HUEYD, *args], cwd=app.dir, env=env, capture_output=True,
                          text=True, timeout=60)


def clean(text: str) -> str:
    assert PASSWORD not in text, text
    return text


MISTYPED = [f"reddis://:{PASSWORD}@127.0.0.1:6390/0", f"redis:/{USER}:{PASSWORD}@127.0.0.1/0",
            f"http://:{PASSWORD}@127.0.0.1/0", f"redis//:{PASSWORD}@127.0.0.1/0",
            f":{PASSWORD}@127.0.0.1:6390/0", f"redis:{PASSWORD}@host/0",
            f"reddis://:pass word {PASSWORD}@127.0.0.1/0"]


@pytest.mark.parametrize("url", MISTYPED, ids=range(len(MISTYPED)))
def test_check_and_run_name_a_mistyped_url_without_its_password(make_app, url):
    app = make_app("sqlite")
    config = write_config(app, redis_url=f'"{url}"')
    checked = hueyd(app, "check", "--config", config)
    assert checked.returncode == 78
    assert f"redis_url: must start with {', '.join(REDIS_SCHEMES)}, got" in clean(
        checked.stderr)
    assert "****@" in checked.stderr
    ran = hueyd(app, "run", "--config", config)
    assert ran.returncode == 78
    assert "redis_url: must start with" in clean(ran.stderr)


def test_a_url_redis_py_rejects_is_not_echoed(make_app):
    app = make_app("sqlite")
    for url in (f"redis://:{PASSWORD}@127.0.0.1:port/0",
                f"redis://:{PASSWORD}@127.0.0.1/0?socket_timeout=never"):
        ran = hueyd(app, "check", "--config", write_config(app, redis_url=f'"{url}"'))
        assert ran.returncode == 78 and "redis_url" in clean(ran.stderr)


def test_a_refused_reload_says_why_in_status_and_log_without_the_password(
        make_app, hueyd_proc, notify_socket, password_url):
    app, listener = make_app("redis"), notify_socket()
    config = write_config(app, redis_url=f'"{password_url}"')
    log = app.dir / "hueyd.log"
    daemon = hueyd_proc(app, "--config", config, "-n", "-m", "0.2", "-l", str(log),
                        env={"NOTIFY_SOCKET": listener.path})
    listener.wait_for_key("READY", timeout=15)
    write_config(app, redis_url=f'"reddis://{USER}:{PASSWORD}@127.0.0.1:1/0"')
    daemon.signal(signal.SIGHUP)
    listener.wait_for_key("RELOADING")
    ready = listener.wait_for_key("READY", timeout=15, after=1)
    status = listener.messages[ready][1].get("STATUS", "")
    assert "refused" in status and "redis_url" in clean(status), status
    assert "****@" in status
    daemon.signal(signal.SIGINT)
    assert daemon.wait(15) == 0
    assert "reload refused" in clean(log.read_text())
    clean(daemon.output)
    for _, fields in listener.messages:
        clean(str(fields))


def test_status_and_connection_errors_never_show_the_password(make_app, hueyd_proc,
                                                              password_url):
    app = make_app("redis")
    good = write_config(app, redis_url=f'"{password_url}"')
    shown = hueyd(app, "status", "--config", good)
    assert shown.returncode == 0 and "queued" in clean(shown.stdout + shown.stderr)
    shown = hueyd(app, "status", "--config", good, "--json")
    assert shown.returncode == 0 and clean(shown.stdout).startswith("{")
    wrong = write_config(app, redis_url=f'"{password_url.replace(PASSWORD, PASSWORD + "x")}"')
    refused = hueyd(app, "status", "--config", wrong)
    assert refused.returncode != 0
    clean(refused.stdout + refused.stderr)
    gone = write_config(app, redis_url=f'"redis://{USER}:{PASSWORD}@127.0.0.1:{free_port()}/0"',
                        startup_timeout=0.5)
    daemon = hueyd_proc(app, "--config", gone)
    assert daemon.wait(15) == 69
    assert "storage unreachable" in clean(daemon.output)
    down = hueyd(app, "status", "--config", gone)
    assert down.returncode == 69 and "unreachable" in clean(down.stderr)
