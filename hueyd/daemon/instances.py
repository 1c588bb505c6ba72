"""``hueyd status NAME``: an instance name stands for its YAML file, as
``systemctl status hueyd@NAME`` names it.

The folder is ``/etc/hueyd``, or ``$HUEYD_CONFIG_DIR`` (tests, a staging copy).
An argument that looks like an import path (``blog.main.huey``) stays an APP,
unless the folder holds a file of that name.
"""
from __future__ import annotations

import os
import re
from collections.abc import Mapping

from hueyd.daemon.config import IMPORT_PATH, ConfigError

CONFIG_DIR = "/etc/hueyd"
CONFIG_DIR_ENV = "HUEYD_CONFIG_DIR"
#: what systemd allows in an instance name, minus the path separators
NAME = re.compile(r"[A-Za-z0-9:_.\\@-]{1,200}")


def config_dir(environ: Mapping[str, str] = os.environ) -> str:
    return environ.get(CONFIG_DIR_ENV) or CONFIG_DIR


def instance_config(argument: str, environ: Mapping[str, str] = os.environ) -> str | None:
    """The YAML file ``argument`` names as an instance, or None when it is an APP;
    ConfigError when it names neither."""
    folder = config_dir(environ)
    path = os.path.join(folder, f"{argument}.yaml")
    valid = NAME.fullmatch(argument) and not argument.startswith(".")
    if valid and os.path.isfile(path):
        return path
    if IMPORT_PATH.fullmatch(argument):
        return None
    if not valid:
        raise ConfigError(None, "NAME", f"{argument[:60]!r} is not an instance name")
    raise ConfigError(path, None, f"no such file: instance {argument} has no configuration "
                      f"in {folder}")
