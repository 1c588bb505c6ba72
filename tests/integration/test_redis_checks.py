"""Issue 18, checks at start: a Redis that would lose tasks without an error is named in
one warning line each by ``hueyd check`` and by ``hueyd run`` (eviction allowed, no
persistence, a replica given as the master). Real redis-servers of the test's own,
reconfigured with CONFIG SET / REPLICAOF as an operator would.
"""
from __future__ import annotations

import pytest
import redis

from tests.helpers import RedisServer
from tests.integration.conftest import write_config
from tests.integration.test_cli_errors import run_hueyd

EVICTS = "maxmemory-policy is allkeys-lru"
VOLATILE = "no persistence (appendonly no"
REPLICA = "the server is a replica"


def warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "warning:" in line]


def test_check_names_eviction_and_missing_persistence_once_each(make_app, own_redis):
    client = redis.Redis(port=own_redis.port)
    client.config_set("maxmemory-policy", "allkeys-lru")
    client.config_set("save", "")
    app = make_app("sqlite")
    done = run_hueyd(app, ["--config", write_config(app, redis_url=own_redis.url)], "check")
    assert done.returncode == 0, done.stderr
    lines = warnings(done.stderr)
    for text in (EVICTS, VOLATILE):
        assert sum(text in line for line in lines) == 1, done.stderr
    assert REPLICA not in done.stderr
    assert "Traceback" not in done.stderr


def test_a_safe_server_gets_no_such_warning(make_app, own_redis):
    client = redis.Redis(port=own_redis.port)
    client.config_set("save", "")
    client.config_set("appendonly", "yes")  # AOF alone is persistence
    app = make_app("sqlite")
    done = run_hueyd(app, ["--config", write_config(app, redis_url=own_redis.url)], "check")
    assert done.returncode == 0, done.stderr
    for text in (EVICTS, VOLATILE, REPLICA):
        assert text not in done.stderr, done.stderr


def test_a_replica_given_as_the_master_is_named_by_check_and_run(make_app, own_redis,
                                                                  hueyd_proc):
    with RedisServer() as replica:
        client = redis.Redis(port=replica.port)
        client.replicaof("127.0.0.1", own_redis.port)
        app = make_app("sqlite")
        config = write_config(app, redis_url=replica.url)
        done = run_hueyd(app, ["--config", config], "check")
        assert done.returncode == 0, done.stderr
        lines = [line for line in warnings(done.stderr) if REPLICA in line]
        assert len(lines) == 1 and f"of 127.0.0.1:{own_redis.port}" in lines[0], done.stderr
        daemon = hueyd_proc(app, "--config", config, "-w", "1")
        daemon.wait_for_log(REPLICA, 20)
        assert daemon.output.count(REPLICA) == 1, daemon.output


@pytest.mark.parametrize("url, words", [
    ("redis+sentinel://:Pw-5ecret@127.0.0.1:26379", "needs the service name"),
    ("redis+cluster://:Pw-5ecret@127.0.0.1:7000/2", "database 0 only"),
    ("redis+cluster://127.0.0.1:7000?password=Pw-5ecret&colour=red", "unknown option 'colour'"),
    ("redis://127.0.0.1/0?durable=two&password=Pw-5ecret", "durable must be a whole number"),
])
def test_a_broken_sentinel_or_cluster_url_is_one_line_and_exit_78(make_app, url, words):
    app = make_app("sqlite")
    config = write_config(app, redis_url=f'"{url}"')
    for command in ("check", "run"):
        done = run_hueyd(app, ["--config", config], command)
        assert done.returncode == 78, done.stderr
        errors = [line for line in done.stderr.splitlines() if "redis_url:" in line
                  and "replaced" not in line]  # run's log first says the app's is replaced
        assert len(errors) == 1 and words in errors[0], done.stderr
        assert "Pw-5ecret" not in done.stderr and "Traceback" not in done.stderr


def test_what_an_acl_forbids_to_ask_is_not_judged(own_redis):
    from hueyd.storage.redis import RedisStorage
    client = redis.Redis(port=own_redis.port)
    client.config_set("save", "")
    client.execute_command("ACL", "SETUSER", "limited", "on", ">Limited-pw1", "~*", "&*",
                           "+@all", "-info", "-config", "-command")
    storage = RedisStorage("acl", url=f"redis://limited:Limited-pw1@127.0.0.1:{own_redis.port}/0")
    try:
        assert storage.server_warnings() == []  # nothing known, nothing claimed
        storage.enqueue(b"x")  # and the user can work
    finally:
        storage.close()
