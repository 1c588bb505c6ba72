"""The app's virtualenv: its packages ahead of Debian's, as uWSGI's ``virtualenv`` does.

hueyd itself comes from the package and runs on the system Python; only the app's
dependencies (redis-py, gevent, Django, ...) come from the virtualenv. So the daemon is
not re-executed under the virtualenv's python (hueyd is usually not installed there):
the virtualenv's site-packages go on ``sys.path`` where a virtualenv's python has them:
after the standard library, ahead of Debian's dist-packages (with its ``.pth`` files, as
``site`` handles them), before anything imports redis, gevent or the app. Process
workers inherit ``sys.path`` by fork; a reload's re-exec and its ``hueyd check`` child
read the same configuration and do this again.

A virtualenv is tied to one Python minor version (its compiled extensions and its
``lib/pythonX.Y`` folder): one built for another is refused, naming its ``pyvenv.cfg``.
"""
from __future__ import annotations

import os
import re
import site
import sys

from hueyd.daemon.config import Config, ConfigError
from hueyd.daemon.files import FileProblem, read_regular

#: pyvenv.cfg is a few lines; anything longer is not one
MAX_PYVENV_CFG = 64 * 1024
#: ``version = 3.11.2`` (venv) or ``version_info = 3.11.2.final.0`` (virtualenv)
VERSION_LINE = re.compile(r"^\s*version(?:_info)?\s*=\s*(\d+)\.(\d+)", re.M)


def site_packages(config: Config) -> str | None:
    """The virtualenv's site-packages folder, checked; None without ``virtualenv``.
    A ConfigError names the folder and what is wrong with it."""
    if not config.virtualenv:
        return None
    root = os.path.abspath(config.virtualenv)

    def refuse(why: str) -> ConfigError:
        return ConfigError(config.config_path, "virtualenv", f"{root}: {why}")

    if not os.path.isdir(root):
        raise refuse("no such directory" if not os.path.exists(root) else "not a directory")
    cfg = os.path.join(root, "pyvenv.cfg")
    if not os.path.exists(cfg):
        raise refuse("not a virtualenv (no pyvenv.cfg; create one with python3 -m venv)")
    try:
        text = read_regular(cfg, MAX_PYVENV_CFG).decode("utf-8", "replace")
    except FileProblem as problem:
        raise refuse(f"pyvenv.cfg: {problem}") from None
    found = VERSION_LINE.search(text)
    if not found:
        raise refuse("pyvenv.cfg names no Python version: not a virtualenv")
    built, running = (int(found[1]), int(found[2])), sys.version_info[:2]
    if built != running:
        raise ConfigError(config.config_path, "virtualenv",
                          f"{cfg} says Python {built[0]}.{built[1]}, but hueyd runs on "
                          f"{running[0]}.{running[1]} ({sys.executable}): rebuild it with "
                          f"{sys.executable} -m venv")
    folder = os.path.join(root, "lib", f"python{running[0]}.{running[1]}", "site-packages")
    if not os.path.isdir(folder):
        raise refuse(f"no {os.path.relpath(folder, root)} folder: not a virtualenv")
    return folder


def activate(config: Config) -> None:
    """Put the virtualenv's packages ahead of Debian's on ``sys.path`` (idempotent), set
    ``VIRTUAL_ENV`` and put its ``bin`` first on ``PATH`` for what tasks start."""
    folder = site_packages(config)
    if folder is None:
        return
    before = list(sys.path)
    site.addsitedir(folder)  # appends the folder and what its .pth files name
    added = [p for p in sys.path if p not in before] or [folder]
    rest = [p for p in sys.path if p not in added]
    at = first_site_folder(rest)
    sys.path[:] = rest[:at] + added + rest[at:]
    root = os.path.abspath(config.virtualenv or "")
    os.environ["VIRTUAL_ENV"] = root
    path = os.environ.get("PATH", os.defpath).split(os.pathsep)
    bin_dir = os.path.join(root, "bin")
    os.environ["PATH"] = os.pathsep.join([bin_dir, *[p for p in path if p != bin_dir]])


def first_site_folder(path: list[str]) -> int:
    """Where site-packages begin in ``path``: after the script's folder, PYTHONPATH and the
    standard library (which a virtualenv never shadows), before Debian's dist-packages."""
    for index, entry in enumerate(path):
        if os.path.basename(entry.rstrip("/")) in ("site-packages", "dist-packages"):
            return index
    return len(path)
