"""``hueyd.instance("blog")``: the app's Huey exactly as ``hueyd@blog`` uses it.

A web process imports the app, whose code says where the queue is; the daemon's
YAML may say otherwise (``redis_url``, ``sqlite_path``) and adds the signing key
(``secret_key_file``). This call reads the same YAML and configures the app's own
Huey object in place, so calling the app's task functions enqueues onto the
daemon's storage, signed with the daemon's key. Unlike the daemon it leaves the
process's working directory and environment alone.
"""
from __future__ import annotations

import dataclasses
import os
import sys
import threading
from typing import TYPE_CHECKING

from hueyd.daemon.config import Config, ConfigError, load_config
from hueyd.daemon.loader import configure, import_app

if TYPE_CHECKING:  # pragma: no cover
    from hueyd.api.huey import Huey

#: where ``hueyd@NAME`` reads its configuration
CONFIG_DIR = "/etc/hueyd"

_lock = threading.Lock()
_configured: dict[str, Huey] = {}  # YAML path -> the Huey it configured


def instance(name: str | None = None, *, config: str | None = None) -> Huey:
    """The Huey of instance ``name`` (``/etc/hueyd/NAME.yaml``) or of the YAML file
    ``config``, configured as its daemon configures it: storage overrides and key.

    The first call per file imports the app (the module a web process imported
    already: the same object) and configures it; later calls return it at once.
    Raises :class:`hueyd.ConfigError` (one line, no password) for a broken file."""
    if (name is None) == (config is None):
        raise TypeError("hueyd.instance() takes an instance name or config=FILE")
    if name is not None:
        if not name or "/" in name or name.startswith("."):
            raise ConfigError(None, None, f"{name!r} is not an instance name")
        config = os.path.join(CONFIG_DIR, f"{name}.yaml")
    path = os.path.abspath(config)
    with _lock:
        huey = _configured.get(path)
        if huey is None:
            huey = _configured[path] = _load(load_config(path, {}))
    return huey


def _load(config: Config) -> Huey:
    for entry in config.pythonpath:  # after the process's own paths: never shadow them
        entry = _absolute(config, "pythonpath", entry)
        if entry not in sys.path:
            sys.path.append(entry)
    config = dataclasses.replace(config, **{
        key: _absolute(config, key, getattr(config, key))
        for key in ("sqlite_path", "file_path", "secret_key_file") if getattr(config, key)})
    huey = import_app(config.app, config.config_path)
    configure(huey, config)
    return huey


def _absolute(config: Config, key: str, path: str) -> str:
    """``path`` as the daemon sees it: a relative one is relative to ``chdir``."""
    if os.path.isabs(path):
        return path
    if config.chdir:
        return os.path.join(os.path.abspath(config.chdir), path)
    raise ConfigError(config.config_path, key, f"{path} is relative to the daemon's working "
                      "directory, which a producer does not share: give an absolute path")
