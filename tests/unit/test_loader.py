"""Importing the app: chdir, pythonpath, environment, nested import paths, storage
overrides, and one ConfigError line naming the import path and the reason."""
from __future__ import annotations

import os
import sys
import uuid

import pytest

import hueyd
from hueyd.daemon.config import ConfigError, load_config
from hueyd.daemon.loader import load_app


@pytest.fixture
def isolated(monkeypatch):
    """Whatever the loader changes (cwd, sys.path, os.environ, imported modules) is put
    back after the test."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.chdir(os.getcwd())
    saved_env = dict(os.environ)
    modules = set(sys.modules)
    made: list[hueyd.Huey] = []
    yield made
    for huey in made:
        huey.storage.close()
    os.environ.clear()
    os.environ.update(saved_env)
    for name in set(sys.modules) - modules:
        del sys.modules[name]


@pytest.fixture
def package(tmp_path):
    """A fresh package (unique name) with a nested module; returns its name."""
    name = f"app_{uuid.uuid4().hex[:8]}"
    root = tmp_path / "src" / name
    (root / "tasks").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "tasks" / "__init__.py").write_text("")
    (root / "tasks" / "main.py").write_text(
        "import os, hueyd\n"
        "huey = hueyd.SqliteHuey('nested', filename=os.environ['APP_DB'])\n"
        "class Holder:\n    queue = huey\n"
        "holder = Holder()\n"
        "seen_env = os.environ.get('APP_MODE')\n"
        "seen_cwd = os.getcwd()\n")
    (root / "broken.py").write_text("import hueyd\n\n\ndef f():\n    raise KeyError('cfg')\n\n"
                                    "f()\n")
    (root / "needs.py").write_text(f"import {name}.missing_part\n")
    return name


def config_for(tmp_path, app: str, **settings):
    return load_config(None, {"app": app, "pythonpath": (str(tmp_path / "src"),),
                              "environment": {"APP_DB": str(tmp_path / "app.db"),
                                              "APP_MODE": "prod"}, **settings})


def test_nested_path_pythonpath_environment_and_chdir(tmp_path, isolated, package):
    workdir = tmp_path / "work"
    workdir.mkdir()
    config = config_for(tmp_path, f"{package}.tasks.main.huey", chdir=str(workdir))
    huey = load_app(config)
    isolated.append(huey)
    module = sys.modules[f"{package}.tasks.main"]
    assert huey is module.huey and isinstance(huey, hueyd.SqliteHuey)
    assert module.seen_env == "prod" and os.environ["APP_MODE"] == "prod"
    assert module.seen_cwd == str(workdir)
    assert sys.path[:2] == [str(tmp_path / "src"), str(workdir)]


@pytest.mark.parametrize("suffix", [".tasks.main.holder.queue", ".tasks.main:holder.queue"])
def test_attributes_after_the_module(tmp_path, isolated, package, suffix):
    huey = load_app(config_for(tmp_path, package + suffix))
    isolated.append(huey)
    assert huey is sys.modules[f"{package}.tasks.main"].huey


def test_relative_pythonpath_is_relative_to_chdir(tmp_path, isolated, package):
    config = load_config(None, {"app": f"{package}.tasks.main.huey", "chdir": str(tmp_path),
                                "pythonpath": ("src",),
                                "environment": {"APP_DB": str(tmp_path / "a.db")}})
    huey = load_app(config)
    isolated.append(huey)
    # "src" was found under the new working directory, and put first on sys.path
    assert os.getcwd() == str(tmp_path) and sys.path[0] == str(tmp_path / "src")


def test_sqlite_path_replaces_the_apps_file(tmp_path, isolated, package):
    override = str(tmp_path / "server.db")
    huey = load_app(config_for(tmp_path, f"{package}.tasks.main.huey", sqlite_path=override))
    isolated.append(huey)
    assert huey.storage.filename == override
    huey.storage.ping()
    assert os.path.exists(override)


def test_redis_url_replaces_the_apps_redis(tmp_path, isolated, redis_server):
    name = f"redisapp_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(
        "import hueyd\nhuey = hueyd.RedisHuey('r', url='redis://127.0.0.1:1/0')\n")
    config = load_config(None, {"app": f"{name}.huey", "pythonpath": (str(tmp_path),),
                                "redis_url": redis_server.url})
    huey = load_app(config)
    isolated.append(huey)
    huey.storage.ping()  # port 1 would refuse: the override is in force
    assert huey.storage.pool.connection_kwargs["port"] == redis_server.port


@pytest.mark.parametrize("path,words", [
    ("nosuch_{pkg}.main.huey", ["no module named 'nosuch_{pkg}'"]),
    ("{pkg}.tasks.main.nothing", ["{pkg}.tasks.main has no attribute 'nothing'"]),
    ("{pkg}.tasks.main.seen_env", ["{pkg}.tasks.main.seen_env is a builtins.str",
                                   "not a hueyd Huey"]),
    ("{pkg}.broken.huey", ["while importing {pkg}.broken: KeyError: 'cfg'", "broken.py, line 5"]),
    ("{pkg}.needs.huey", ["while importing {pkg}.needs: ModuleNotFoundError",
                          "{pkg}.missing_part"]),
])
def test_import_errors_are_one_line(tmp_path, isolated, package, path, words):
    with pytest.raises(ConfigError) as caught:
        load_app(config_for(tmp_path, path.format(pkg=package)))
    text = str(caught.value)
    assert text.startswith("hueyd: app: ") and "\n" not in text
    for word in words:
        assert word.format(pkg=package) in text, text


def test_the_module_prefix_that_exists_is_used(tmp_path, isolated, package):
    # "tasks.nomodule" does not exist, "tasks" does: the error is about its attribute
    with pytest.raises(ConfigError, match=r"tasks has no attribute 'nomodule'"):
        load_app(config_for(tmp_path, f"{package}.tasks.nomodule.huey"))


def test_errors_name_the_config_file(tmp_path, isolated):
    path = tmp_path / "hueyd.yaml"
    path.write_text("app: nosuch_module_x.huey\nchdir: /nonexistent/dir\n")
    with pytest.raises(ConfigError) as caught:
        load_app(load_config(str(path), {}))
    assert str(caught.value).startswith(f"hueyd: {path}: chdir: cannot change to "
                                        "/nonexistent/dir")


def test_redis_url_moves_a_sqlite_app_to_the_servers_redis(tmp_path, isolated, package,
                                                          redis_server):
    """One code base: SQLite on a laptop, the server's Redis under the daemon."""
    from hueyd.storage.redis import RedisStorage
    huey = load_app(config_for(tmp_path, f"{package}.tasks.main.huey",
                               redis_url=redis_server.url))
    isolated.append(huey)
    assert isinstance(huey.storage, RedisStorage) and huey.name == "nested"
    huey.storage.ping()
    assert huey.storage.pool.connection_kwargs["port"] == redis_server.port