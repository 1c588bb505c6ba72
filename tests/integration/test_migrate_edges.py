"""Issue 16, ``hueyd migrate from-huey`` at its edges, without huey installed: huey's
bytes are made as huey makes them (tests/huey_bytes.py) and written to the suite's
redis-server under huey's keys.

- a run interrupted between writing a task to hueyd and removing it from huey's keys
  leaves it in both: the next run removes it from huey's and does not write it again;
- an SQLite instance takes huey's Redis from ``--from-url``; without it, one line, 78;
- an unreachable Redis is one line, 69; a missing config file, a refused password, a
  usage mistake and an instance in memory (nothing would keep what moves) one line, 78.
"""
from __future__ import annotations

import os
import subprocess

import pytest
import redis

from tests.helpers import free_port
from tests.huey_bytes import as_huey, huey_message
from tests.integration.conftest import HUEYD, ROOT, App, write_config


def hueyd(app: App, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **app.env, "PYTHONPATH": f"{app.dir}{os.pathsep}{ROOT}"}
    return subprocess.run([*HUEYD, "migrate", "from-huey", *args], cwd=app.dir, env=env,
                          capture_output=True, text=True, timeout=60)


def one_line(done: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in done.stderr and len(done.stderr.splitlines()) == 1, done.stderr
    return done.stderr


def huey_add(task_id: str, a: int, b: int) -> bytes:
    return as_huey(lambda m: huey_message(m, id=task_id, name="tasksapp.add", args=(a, b),
                                          kwargs={}, retries=0, retry_delay=0))


def test_an_interrupted_run_is_finished_by_the_next_without_duplicates(make_app, redis_url):
    app = make_app("redis", name="shop")
    already = app.tasks.add.s(1, 1)
    app.huey.enqueue(already)  # written by a run that stopped before removing it
    source = redis.Redis.from_url(redis_url)
    source.lpush("huey.redis.shop", huey_add(already.id, 1, 1), huey_add("t-2", 2, 2),
                 huey_add("t-3", 3, 3))
    done = hueyd(app, "--config", write_config(app))
    assert done.returncode == 0, done.stderr
    assert "queued     2 moved" in done.stdout and "already in hueyd: 1" in done.stdout
    assert source.llen("huey.redis.shop") == 0
    pending = app.huey.pending()
    assert [t.id for t in pending] == [already.id, "t-2", "t-3"]
    assert [t.args for t in pending] == [(1, 1), (2, 2), (3, 3)]


def test_results_and_revocations_move_locks_and_rate_limits_stay(make_app, redis_url):
    import datetime as dt

    from hueyd.api.revocation import decode_entry
    app = make_app("redis", name="shop")
    result_id = "0b0e7b44-8f05-4a8c-9a52-1f0ad2c1d6a1"
    until = dt.datetime(2030, 1, 1)
    source = redis.Redis.from_url(redis_url)
    source.hset("huey.results.shop", mapping={
        result_id: as_huey(lambda m: {"total": 3}),
        "r:t-9": as_huey(lambda m: (until, False)),
        "shop.lock.nightly": b"1",
        "shop.rl.api.w": as_huey(lambda m: 12345)})
    done = hueyd(app, "--config", write_config(app))
    assert done.returncode == 0, done.stderr
    assert "results    2 moved" in done.stdout, done.stdout
    assert "huey locks and rate limits: 2" in done.stdout, done.stdout
    assert app.huey.result(result_id) == {"total": 3}
    assert decode_entry(app.huey.storage.peek_data("r:t-9")) == (
        (until - dt.datetime(1970, 1, 1)).total_seconds(), False)
    assert sorted(source.hkeys("huey.results.shop")) == [b"shop.lock.nightly", b"shop.rl.api.w"]


def test_an_instance_name_stands_for_its_yaml(make_app, redis_url, tmp_path):
    app = make_app("redis", name="shop")
    folder = tmp_path / "etc-hueyd"
    folder.mkdir()
    (folder / "shop.yaml").write_text(f"app: tasksapp.huey\nredis_url: {redis_url}\n")
    redis.Redis.from_url(redis_url).lpush("huey.redis.shop", huey_add("t-1", 1, 2))
    env = {**os.environ, **app.env, "PYTHONPATH": f"{app.dir}{os.pathsep}{ROOT}",
           "HUEYD_CONFIG_DIR": str(folder)}
    done = subprocess.run([*HUEYD, "migrate", "from-huey", "shop", "--dry-run"], cwd=app.dir,
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "queued     1 would move" in done.stdout, done


def test_an_sqlite_instance_reads_huey_from_the_url_it_is_given(make_app, redis_url):
    app = make_app("sqlite", name="shop")
    config = write_config(app)
    source = redis.Redis.from_url(redis_url)
    source.lpush("huey.redis.shop", huey_add("t-1", 4, 5))
    without = hueyd(app, "--config", config)
    assert without.returncode == 78
    assert "--from-url" in one_line(without) and "SqliteStorage" in without.stderr
    done = hueyd(app, "--config", config, "--from-url", redis_url)
    assert done.returncode == 0, done.stderr
    assert [(t.id, t.args) for t in app.huey.pending()] == [("t-1", (4, 5))]
    assert source.llen("huey.redis.shop") == 0


@pytest.mark.parametrize("args,code,says", [
    (["--from-url", f"redis://127.0.0.1:{free_port()}/0"], 69, "storage unreachable"),
    (["--from-url", "nonsense://x"], 78, "--from-url"),
])
def test_a_broken_source_is_one_line(make_app, args, code, says):
    app = make_app("sqlite", name="shop")
    done = hueyd(app, "--config", write_config(app), *args)
    assert done.returncode == code, done.stderr
    assert says in one_line(done)


def test_a_missing_config_file_is_one_line_78(make_app, tmp_path):
    app = make_app("sqlite", name="shop")
    done = hueyd(app, "--config", str(tmp_path / "absent.yaml"), "--dry-run")
    assert done.returncode == 78 and "absent.yaml" in one_line(done)


def test_a_refused_password_is_one_line_78_without_the_password(make_app, redis_server):
    app = make_app("sqlite", name="shop")
    url = f"redis://nobody:s3cr3t-Pa55@127.0.0.1:{redis_server.port}/0"
    done = hueyd(app, "--config", write_config(app), "--from-url", url)
    assert done.returncode == 78, done.stderr
    assert "refused" in one_line(done) and "s3cr3t-Pa55" not in done.stderr + done.stdout


@pytest.mark.parametrize("args,words", [
    (["migrate"], "required: source"),
    (["migrate", "from-rq", "--config", "x.yaml"], "invalid choice: 'from-rq'"),
    (["migrate", "from-huey", "a.b", "--dry-run"], "cannot import a.b"),
])
def test_usage_mistakes_are_one_line_78(args, words, tmp_path):
    done = subprocess.run([*HUEYD, *args], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 78 and words in one_line(done), done.stderr


def test_a_memory_instance_is_refused_nothing_would_keep_what_moves(tmp_path):
    (tmp_path / "memapp.py").write_text("from hueyd import MemoryHuey\nhuey = MemoryHuey('shop')\n")
    done = subprocess.run([*HUEYD, "migrate", "from-huey", "memapp.huey", "--from-url",
                           "redis://127.0.0.1:1/0"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"})
    assert done.returncode == 78 and "in memory" in one_line(done), done.stderr
