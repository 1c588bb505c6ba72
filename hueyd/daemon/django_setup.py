"""A Django project's consumer: ``django_settings`` in the YAML.

Before the app is imported: ``DJANGO_SETTINGS_MODULE``, ``django.setup()`` (after
gevent's patching: ``hueyd run`` patches before it loads the app) and each installed
app's ``tasks`` module, as ``manage.py run_huey`` discovers them. The app then defaults
to ``settings.HUEY`` (``hueyd.contrib.djhuey.HUEY``). Database connections the master
opened are closed before every fork, so no process worker shares a socket with it;
``db_task`` closes a worker's own around each run. Every failure is one line naming
``django_settings`` (exit 78): a missing module, ``django.setup()`` raising, an app's
``tasks`` module that does not import, a project with no task. The project's exceptions
come back as :class:`Failed`, which the loader describes as it describes its own.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
from collections.abc import Callable
from typing import Any

from hueyd.api.huey import Huey
from hueyd.daemon.config import Config, ConfigError

KEY = "django_settings"
_fork_hook = False


class Failed(Exception):
    """The project's code raised ``error`` while hueyd did ``what``."""

    def __init__(self, what: str, error: BaseException) -> None:
        super().__init__(what, error)
        self.what, self.error = what, error


def setup(config: Config) -> None:
    """Set up Django for ``config.django_settings``; nothing without it."""
    if not config.django_settings:
        return
    module = config.django_settings

    def refuse(why: str) -> ConfigError:
        return ConfigError(config.config_path, KEY, why)

    os.environ["DJANGO_SETTINGS_MODULE"] = module
    try:
        found = importlib.util.find_spec(module)
    except ModuleNotFoundError:
        found = None
    except BaseException as exc:  # noqa: B036 - a package __init__ of the project's
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise Failed(f"cannot import {module}", exc) from None
    if found is None:
        raise refuse(f"no module named {module!r} (working directory {os.getcwd()}; "
                     "set chdir or pythonpath to the project's folder)")
    try:
        import django
    except ImportError:
        raise refuse("Django is not installed (set virtualenv to the project's "
                     "virtualenv, or apt install python3-django)") from None
    _call("django.setup() failed", django.setup)
    discover_tasks()
    close_connections()
    global _fork_hook
    if not _fork_hook:
        os.register_at_fork(before=close_connections)
        _fork_hook = True


def _call(what: str, function: Callable[..., Any], *args: Any) -> Any:
    try:
        return function(*args)
    except BaseException as exc:  # noqa: B036 - the project's code may even sys.exit()
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise Failed(what, exc) from None


def discover_tasks() -> list[str]:
    """Import the ``tasks`` module of every installed app that has one."""
    from django.apps import apps
    from django.utils.module_loading import module_has_submodule
    imported = []
    for app in apps.get_app_configs():
        if module_has_submodule(app.module, "tasks"):
            name = f"{app.name}.tasks"
            _call(f"cannot import {name}", importlib.import_module, name)
            imported.append(name)
    return imported


def require_tasks(config: Config, huey: Huey) -> None:
    """A Django project whose Huey has no task is misconfigured (a missing tasks.py, the
    app not in INSTALLED_APPS, tasks on another Huey than settings.HUEY)."""
    if config.django_settings and not huey.registry.names:
        raise ConfigError(config.config_path, KEY, f"no task registered on {config.app} "
                          "(is each app with a tasks.py in INSTALLED_APPS, and are its tasks "
                          "decorated with hueyd.contrib.djhuey's task or db_task?)")


def close_connections() -> None:
    """Close this thread's database connections (the master's, before a fork)."""
    from django.db import connections
    connections.close_all()
