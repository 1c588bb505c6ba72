"""What an attacker with write access to the queue, or a full Redis, does to a consumer:
the bad messages of the unit and integration tests, and a Redis filled to maxmemory."""
from __future__ import annotations

import datetime as dt
import pickle
import sys
from collections.abc import Callable

import redis


def dumps(env: object) -> bytes:
    """A pickle as an attacker writes it: as deep as they like (pickling recurses,
    unpickling does not)."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(50_000)
    try:
        return pickle.dumps(env)
    finally:
        sys.setrecursionlimit(limit)


def deep(levels: int, env: dict) -> dict:
    """``env`` with an ``on_complete`` chain ``levels`` deep."""
    for _ in range(levels):
        env = {**env, "on_complete": env}
    return env


def without(key: str) -> Callable[[dict], dict]:
    return lambda e: {k: v for k, v in e.items() if k != key}


def with_(**fields: object) -> Callable[[dict], dict]:
    return lambda e: {**e, **fields}


#: name -> (how to spoil a good envelope, a word the dead letter's reason must contain)
ENVELOPES: dict[str, tuple[Callable[[dict], object], str]] = {
    "no name": (without("name"), "name"),
    "unhashable name": (with_(name=["tasks", "add"]), "name"),
    "unknown task": (with_(name="tasks.gone"), "unknown task"),
    "huge unknown name": (with_(name="x" * 1_000_000), "unknown task"),
    "no args": (without("args"), "args"),
    "args not a list": (with_(args=5), "args"),
    "kwargs not a dict": (with_(kwargs=[1, 2]), "kwargs"),
    "kwargs keys not strings": (with_(kwargs={1: 2}), "kwargs"),
    "id a list": (with_(id=[1]), "id"),
    "id a number": (with_(id=5), "id"),
    "eta in the year 10000": (with_(eta=253_402_387_200.0), "eta"),
    "eta NaN": (with_(eta=float("nan")), "eta"),
    "eta huge": (with_(eta=1e300), "eta"),
    "eta a string": (with_(eta="tomorrow"), "eta"),
    "expires_resolved huge": (with_(expires_resolved=1e300), "expires_resolved"),
    "retries a string": (with_(retries="3"), "retries"),
    "retries negative": (with_(retries=-1), "retries"),
    "retry_delay NaN": (with_(retry_delay=float("nan")), "retry_delay"),
    "retry_delay huge": (with_(retry_delay=1e308), "retry_delay"),
    "retry_backoff a string": (with_(retry_backoff="x"), "retry_backoff"),
    "priority a string": (with_(priority="high"), "priority"),
    "priority NaN": (with_(priority=float("nan")), "priority"),
    "timeout a string": (with_(timeout="1s"), "timeout"),
    "timeout infinite": (with_(timeout=float("inf")), "timeout"),
    "timeout negative": (with_(timeout=-1), "timeout"),
    "expires a string": (with_(expires="soon"), "expires"),
    "expires a huge timedelta": (with_(expires=dt.timedelta(days=10**8)), "expires"),
    "chord of three": (with_(chord=("c", 2, 0)), "chord"),
    "chord callback garbage": (with_(chord=("c", 2, 0, {"v": 1})), "name"),
    "on_complete not a task": (with_(on_complete=7), "on_complete"),
    "on_error of an unknown task": (lambda e: {**e, "on_error": {**e, "name": "x.y"}},
                                    "unknown task"),
    "nested 5000 deep": (lambda e: deep(5000, e), "nested too deeply"),
    "a tuple of the wrong length": (lambda e: tuple(e.values())[:5], "not a hueyd task"),
}

#: name -> (how to spoil a good message's bytes, a word the reason must contain)
RAW: dict[str, tuple[Callable[[bytes], bytes], str]] = {
    "truncated": (lambda good: good[: len(good) // 2], "undecodable"),
    "empty": (lambda good: b"", "undecodable"),
    "noise": (lambda good: b"\x80\x05garbage" * 9, "undecodable"),
    "a pickle of a list": (lambda good: pickle.dumps([1, 2, 3]), "not a hueyd task"),
}


def bad_messages(good: bytes) -> list[tuple[str, bytes, str]]:
    """(name, bytes, expected word) for every kind, built from one good message."""
    envelope = pickle.loads(good)
    return ([(name, dumps(spoil(envelope)), word)
             for name, (spoil, word) in ENVELOPES.items()]
            + [(name, spoil(good), word) for name, (spoil, word) in RAW.items()])


def fill(port: int, maxmemory: int = 4 << 20) -> redis.Redis:
    """Set ``maxmemory`` on the redis-server at ``port`` (one of the test's own), fill
    it until it answers OOM, then lower the limit by 1 MiB, so that the usual ups and
    downs of its memory never take it under again; returns the client (see
    :func:`unfill`)."""
    client = redis.Redis(port=port)
    client.config_set("maxmemory", maxmemory)
    n = 0
    while True:
        try:
            client.set(f"fill:{n}", b"x" * 10_000)
        except redis.ResponseError as exc:
            assert "maxmemory" in str(exc), exc
            break
        n += 1
    client.config_set("maxmemory", client.info("memory")["used_memory"] - (1 << 20))
    return client


def unfill(client: redis.Redis) -> None:
    """Make room again: delete what :func:`fill` wrote."""
    keys = list(client.scan_iter("fill:*", count=1000))
    for start in range(0, len(keys), 1000):
        client.delete(*keys[start:start + 1000])
