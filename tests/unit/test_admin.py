"""``hueyd status`` and ``hueyd dead-letter`` (hueyd/daemon/admin.py) on real storages:
a SQLite file and the suite's redis-server, with consumers that hold messages."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid

import pytest

from hueyd.daemon import admin
from hueyd.daemon.config import load_config
from hueyd.exitcodes import EX_OK, EX_UNAVAILABLE
from hueyd.storage.redis import RedisStorage
from hueyd.storage.sqlite import SqliteStorage
from tests.helpers import free_port, wait_for

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(params=["sqlite", "redis"])
def queue(request, tmp_path, monkeypatch):
    """(config, make_storage): an app module in a fresh directory and storages of its queue."""
    module = f"adminapp_{uuid.uuid4().hex[:8]}"
    if request.param == "sqlite":
        where = str(tmp_path / "admin.db")
        source = f"from hueyd import SqliteHuey\nhuey = SqliteHuey('adm', filename={where!r})\n"
    else:
        where = request.getfixturevalue("redis_url")
        source = f"from hueyd import RedisHuey\nhuey = RedisHuey('adm', url={where!r})\n"
    (tmp_path / f"{module}.py").write_text(source)
    monkeypatch.chdir(tmp_path)  # the loader puts the working directory on sys.path
    made = []

    def make_storage(consumer_id=None, **kwargs):
        s = (SqliteStorage("adm", filename=where, **kwargs) if request.param == "sqlite"
             else RedisStorage("adm", url=where, **kwargs))
        if consumer_id:
            s.start_consuming(consumer_id)
        made.append(s)
        return s

    yield load_config(None, {"app": f"{module}.huey"}), make_storage
    for s in made:
        s.close()


def fill(make_storage) -> None:
    """3 queued, 1 scheduled, 2 dead letters; 'live' holds 2, 'gone' (expired) holds 1."""
    live = make_storage("host:1:live")
    gone = make_storage("host:2:gone", lease_timeout=0.05)
    for n in range(6):
        live.enqueue(b"task %d" % n)
    live.add_to_schedule(b"later", time.time() + 3600)
    live.add_dead_letter(b"\x80garbage", "undecodable message: UnpicklingError", 1_700_000_000.0)
    live.add_dead_letter(b"x" * 100, "unknown task 'app.gone'", 1_700_000_001.0)
    live.dequeue(), live.dequeue()
    gone.dequeue()
    live.keep_alive()
    time.sleep(0.1)  # gone's lease runs out


def test_status_as_json(queue, capsys):
    config, make_storage = queue
    fill(make_storage)
    assert admin.status_command(config, as_json=True) == EX_OK
    report = json.loads(capsys.readouterr().out)
    assert {k: report[k] for k in ("name", "queued", "scheduled", "in_flight",
                                   "dead_letters", "consumers_alive")} == {
        "name": "adm", "queued": 3, "scheduled": 1, "in_flight": 3, "dead_letters": 2,
        "consumers_alive": 1}
    consumers = {c["id"]: c for c in report["consumers"]}
    assert consumers["host:1:live"]["alive"] and consumers["host:1:live"]["in_flight"] == 2
    assert not consumers["host:2:gone"]["alive"] and consumers["host:2:gone"]["in_flight"] == 1
    assert consumers["host:1:live"]["pid"] == os.getpid()


def test_status_as_a_table(queue, capsys):
    config, make_storage = queue
    fill(make_storage)
    assert admin.status_command(config, as_json=False) == EX_OK
    out = capsys.readouterr().out
    assert "queue adm (" in out
    for line in ("queued        3", "scheduled     1", "in flight     3", "dead letters  2",
                 "consumers: 1 alive, 1 gone"):
        assert line in out
    live = next(line for line in out.splitlines() if "host:1:live" in line)
    # IN FLIGHT, then BUSY, IDLE, DONE/1m, FAILED/1m: unknown without a daemon's report
    assert "alive, " in live and live.split()[-5:] == ["2", "?", "?", "?", "?"]
    gone = next(line for line in out.splitlines() if "host:2:gone" in line)
    assert "expired" in gone and gone.split()[-5] == "1"


def test_dead_letter_list_requeue_purge(queue, capsys):
    config, make_storage = queue
    storage = make_storage()
    for n in range(4):
        storage.add_dead_letter(b"bad %d" % n, f"reason {n}", 1_700_000_000.0 + n)
    assert admin.dead_letter_command(config, "list", 2) == EX_OK
    out = capsys.readouterr().out
    assert out.startswith("2 of 4 dead letter(s)")
    assert "reason 0" in out and "reason 1" in out and "reason 2" not in out
    assert "5 bytes: b'bad 0'" in out
    assert admin.dead_letter_command(config, "requeue", 1) == EX_OK
    assert "1 dead letter(s) of adm back on the queue" in capsys.readouterr().out
    assert storage.enqueued_items() == [b"bad 0"]
    assert admin.dead_letter_command(config, "purge", None) == EX_OK
    assert "3 dead letter(s) of adm purged" in capsys.readouterr().out
    assert storage.dead_letter_count() == 0
    assert admin.dead_letter_command(config, "list", None) == EX_OK
    assert capsys.readouterr().out.strip() == "no dead letters"


def test_an_unreachable_storage_is_one_line_and_exit_69(tmp_path, monkeypatch, capsys):
    module = f"downapp_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text(
        "from hueyd import RedisHuey\n"
        f"huey = RedisHuey('down', port={free_port()}, socket_connect_timeout=1)\n")
    monkeypatch.chdir(tmp_path)
    config = load_config(None, {"app": f"{module}.huey"})
    assert admin.status_command(config, as_json=False) == EX_UNAVAILABLE
    assert admin.dead_letter_command(config, "list", None) == EX_UNAVAILABLE
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and all("storage unreachable" in line for line in err)
    assert err[0].startswith("hueyd: status: ") and "dead-letter list" in err[1]


def test_the_command_line_reaches_these_commands(tmp_path, redis_url):
    (tmp_path / "cliapp.py").write_text(
        f"from hueyd import RedisHuey\nhuey = RedisHuey('cli', url={redis_url!r})\n")
    (tmp_path / "hueyd.yaml").write_text("app: cliapp.huey\n")
    storage = RedisStorage("cli", url=redis_url)
    storage.enqueue(b"one")
    storage.add_dead_letter(b"junk", "not a hueyd task message", time.time())
    env = {**os.environ, "PYTHONPATH": ROOT, "PYTHONDONTWRITEBYTECODE": "1"}

    def hueyd(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "hueyd", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL)

    done = hueyd("status", "--config", "hueyd.yaml", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["queued"] == 1 and json.loads(done.stdout)["dead_letters"] == 1
    done = hueyd("dead-letter", "requeue", "--config", "hueyd.yaml")
    assert done.returncode == 0, done.stderr
    wait_for(lambda: storage.queue_size() == 2, 5, message="the dead letter back on the queue")
    storage.close()
