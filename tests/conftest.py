"""Fixtures shared by every test level: the suite's redis-server and storage factories."""
from __future__ import annotations

import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from tests.helpers import RedisServer  # noqa: E402


@pytest.fixture(scope="session")
def redis_server():
    """One redis-server for the session, on a free port, stopped by PID at the end."""
    with RedisServer() as server:
        yield server


@pytest.fixture(scope="session")
def postgres_server():
    """One PostgreSQL 15 for the session (tests/postgres_server.py), stopped by PID."""
    from tests.postgres_server import PostgresServer
    with PostgresServer() as server:
        yield server


@pytest.fixture
def own_redis():
    """A redis-server of this test's own: one it may fill, stop or reconfigure."""
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_url(redis_server):
    """A clean database on the suite's redis-server for this test."""
    import redis

    client = redis.Redis(port=redis_server.port)
    client.flushall()
    client.close()
    return redis_server.url


STORAGE_KINDS = ("memory", "sqlite", "redis")


@pytest.fixture(params=STORAGE_KINDS)
def storage_kind(request):
    return request.param


@pytest.fixture
def make_huey(request, storage_kind, tmp_path):
    """Build a Huey of the parametrized storage kind: ``make_huey(name='t', **kwargs)``."""
    import hueyd

    made = []

    def factory(name: str = "test", **kwargs):
        if storage_kind == "memory":
            h = hueyd.MemoryHuey(name, **kwargs)
        elif storage_kind == "sqlite":
            h = hueyd.SqliteHuey(name, filename=str(tmp_path / f"{name}.db"), **kwargs)
        else:
            url = request.getfixturevalue("redis_url")
            h = hueyd.RedisHuey(name, url=url, **kwargs)
        made.append(h)
        return h

    yield factory
    for h in made:
        try:
            h.storage.close()
        except Exception:
            pass


@pytest.fixture(scope="session")
def django_venv():
    """A virtualenv with Django 5.2 LTS, django-tasks and a current redis-py (built once by
    scripts/django-venv, cached under /var/cache/hueyd-tests): the app's own virtualenv."""
    import pathlib
    import subprocess

    from tests.helpers import unavailable
    script = os.path.join(ROOT, "scripts", "django-venv")
    done = subprocess.run([script], capture_output=True, text=True, timeout=900, check=False)
    if done.returncode != 0 or not done.stdout.strip():
        unavailable(f"scripts/django-venv failed: {done.stderr.strip()[-500:]}")
    return pathlib.Path(done.stdout.strip().splitlines()[-1])
