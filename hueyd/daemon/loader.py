"""Importing the application: its Huey instance, found by a dotted path.

Prepares the process as the configuration says (working directory, sys.path,
environment), imports ``module.attr`` (``blog.main.huey``; ``blog.main:huey``
works too), points the Huey at the server's own storage when the YAML says so and
gives it the server's signing key (:func:`configure`, which producers share through
:func:`hueyd.instance`). Every failure is one ``ConfigError`` line naming the import
path and the reason; the operator never has to read a traceback to fix a typo.
"""
from __future__ import annotations

import importlib
import logging
import os
import sys
import traceback
from typing import Any

from hueyd.api.exceptions import ConfigurationError
from hueyd.api.huey import Huey
from hueyd.daemon import django_setup
from hueyd.daemon.config import Config, ConfigError
from hueyd.daemon.security import key_label, read_secret_key
from hueyd.storage.base import StorageError, StorageUnusable


def load_app(config: Config) -> Huey:
    """The application's Huey, imported as ``config`` says."""
    prepare(config)
    try:
        django_setup.setup(config)  # a Django project: before its settings.HUEY is read
    except django_setup.Failed as failed:
        raise ConfigError(config.config_path, django_setup.KEY,
                          f"{failed.what}: {describe(failed.error)}") from None
    huey = import_app(config.app, config.config_path)
    django_setup.require_tasks(config, huey)
    configure(huey, config)
    return huey


def configure(huey: Huey, config: Config) -> None:
    """Make ``huey`` what the daemon of ``config`` uses: its storage and its key."""
    apply_storage_overrides(huey, config)
    key = read_secret_key(config)
    if key is not None:
        try:
            huey.set_secret_key(key)
        except ConfigurationError as exc:
            raise ConfigError(config.config_path, key_label(config), str(exc)) from None


def prepare(config: Config) -> None:
    """chdir, then pythonpath (relative entries are relative to the new directory) first
    on sys.path followed by the working directory (as huey_consumer does), then the
    environment."""
    if config.chdir:
        try:
            os.chdir(config.chdir)
        except OSError as exc:
            raise ConfigError(config.config_path, "chdir",
                              f"cannot change to {config.chdir}: {exc.strerror}") from None
    entries = []
    for entry in config.pythonpath:
        path = os.path.abspath(entry)
        if not os.path.exists(path):
            raise ConfigError(config.config_path, "pythonpath", f"{entry}: no such directory")
        entries.append(path)
    entries.append(os.getcwd())
    for path in reversed(entries):
        if path in sys.path:
            sys.path.remove(path)
        sys.path.insert(0, path)
    os.environ.update(config.environment)


def import_app(path: str, config_file: str | None = None) -> Huey:
    """Import ``path`` (``package.module.attr``): the longest importable module prefix,
    then attributes."""
    def fail(reason: str) -> ConfigError:
        return ConfigError(config_file, "app", f"cannot import {path}: {reason}")

    module_path, sep, attrs = path.partition(":")
    if sep:
        candidates = [(module_path, attrs.split("."))]
    else:
        parts = path.split(".")
        candidates = [(".".join(parts[:i]), parts[i:]) for i in range(len(parts) - 1, 0, -1)]
    missing = ""
    for module_name, attributes in candidates:
        try:
            obj: Any = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and _is_prefix(exc.name, module_name):
                missing = missing or exc.name  # that module does not exist: try a shorter one
                continue
            raise fail(f"while importing {module_name}: {describe(exc)}") from None
        except BaseException as exc:  # noqa: B036 - the app may even call sys.exit()
            if isinstance(exc, KeyboardInterrupt):
                raise
            raise fail(f"while importing {module_name}: {describe(exc)}") from None
        for depth, attribute in enumerate(attributes):
            owner = ".".join([module_name, *attributes[:depth]])
            try:
                obj = getattr(obj, attribute)
            except AttributeError:
                raise fail(f"{owner} has no attribute {attribute!r}") from None
            except BaseException as exc:  # noqa: B036 - a module's __getattr__ runs app code
                if isinstance(exc, KeyboardInterrupt):
                    raise
                raise fail(f"while reading {owner}.{attribute}: {describe(exc)}") from None
        if not _is_huey(obj):
            raise ConfigError(config_file, "app", f"{path} is {describe_object(obj)}, "
                              "not a hueyd Huey instance")
        return obj
    raise fail(f"no module named {missing!r} (working directory {os.getcwd()})")


def _is_prefix(name: str, module: str) -> bool:
    return module == name or module.startswith(name + ".")


def _is_huey(obj: Any) -> bool:
    try:
        return isinstance(obj, Huey)
    except Exception:  # noqa: BLE001 - a __class__ property of the app's that raises
        return False


def _text(obj: Any) -> str:
    """``str(obj)``, even when the app's ``__str__`` raises; at most 300 characters."""
    try:
        text = str(obj)
    except Exception:  # noqa: BLE001
        text = "(its message cannot be shown)"
    return text if len(text) <= 300 else text[:297] + "..."


def describe(exc: BaseException) -> str:
    """``ValueError: boom (app.py, line 3)``: the exception and where it was raised."""
    message = _text(exc)
    text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    # the innermost frame of real code (not importlib's); a SyntaxError names its own place
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if not f.filename.startswith("<")]
    if frames and not isinstance(exc, SyntaxError):
        text += f" ({frames[-1].filename}, line {frames[-1].lineno})"
    return " ".join(text.split())


def describe_object(obj: Any) -> str:
    kind = type(obj)
    name = f"{_text(kind.__module__)}.{kind.__qualname__}"
    if name.split(".")[0] == "huey":
        return f"a {name} of the huey package (import it from hueyd instead)"
    return f"a {name}"


#: the YAML keys that say where the queue is (at most one)
LOCATIONS = ("redis_url", "sqlite_path", "file_path")


def apply_storage_overrides(huey: Huey, config: Config) -> None:
    """``redis_url`` / ``sqlite_path`` from the YAML say where this server keeps the
    queue: the app's own location, or even its kind of storage, is replaced, so one
    code base runs on a developer's SQLite file and on the server's Redis."""
    given = [key for key in LOCATIONS if getattr(config, key)]
    if len(given) > 1:
        raise ConfigError(config.config_path, given[1],
                          f"give one of {', '.join(LOCATIONS)}: not both {given[0]} and "
                          f"{given[1]}")
    if config.redis_url:
        from hueyd.storage.redis import RedisStorage
        _replace(huey, config, "redis_url", RedisStorage, url=config.redis_url)
    if config.sqlite_path:
        from hueyd.storage.sqlite import SqliteStorage
        _replace(huey, config, "sqlite_path", SqliteStorage, filename=config.sqlite_path)
    if config.file_path:
        from hueyd.storage.file import FileStorage
        _replace(huey, config, "file_path", FileStorage, path=config.file_path)


def _replace(huey: Huey, config: Config, key: str, kind: type, **overrides: Any) -> None:
    # huey.storage: the app's own class, of either interface (a view answers its backend's)
    if not isinstance(huey.storage, kind):  # another kind of storage: keep only the name
        logging.getLogger("hueyd").info("%s: the app's %s is replaced by a %s", key,
                                        huey.storage.__class__.__name__, kind.__name__)
        huey.storage_class, huey.storage_kwargs = kind, {}
    try:
        huey.replace_storage(**overrides)
    except Exception as exc:
        raise ConfigError(config.config_path, key, describe(exc)) from None


def check_storage(config: Config, huey: Huey) -> str | None:
    """For ``hueyd check``: ConfigError if the storage refuses us for good (credentials,
    a file that is not a writable database); the reason if it cannot be reached now (a
    transient state, which ``run`` waits out); None if it answered."""
    try:
        huey.backend.check()
    except StorageUnusable as exc:
        raise storage_refused(config, exc) from None
    except StorageError as exc:
        return str(exc)
    return None


def storage_refused(config: Config, exc: StorageUnusable) -> ConfigError:
    """The one line for a storage that refuses us, naming the setting that chose it."""
    key = next((key for key in LOCATIONS if getattr(config, key)), "app")
    return ConfigError(config.config_path, key, f"storage refused: {exc}")
