"""``python manage.py run_huey``: the project's consumer, for development.

huey's options with hueyd's spelling of them (``-w``, ``-k``, ``-n``, ``-d``, ...), except
``-V/--huey-verbose`` for ``-v/--verbose``, which Django owns; ``-A`` skips importing
each installed app's ``tasks`` module. ``settings.HUEY["consumer"]`` gives defaults
(huey's names, ``initial_delay``, ``check_worker_health``, ``logfile``, ``verbose``, or
hueyd's); options given here win. It runs hueyd's daemon, the same as ``hueyd run
--django-settings``: supervised workers, SIGINT to stop gracefully, SIGHUP to reload.
"""
from __future__ import annotations

import os
import sys
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from hueyd import cli
from hueyd.daemon.config import DJANGO_APP, SETTINGS, ConfigError, load_config

#: huey's consumer option names (settings.HUEY["consumer"]) -> hueyd's settings
HUEY_NAMES = {"initial_delay": "delay", "check_worker_health": "health_check",
              "logfile": "log_file"}
#: hueyd run's options that have no meaning in a development consumer
LEFT_OUT = ("daemonize", "pidfile", "virtualenv", "django_settings")
VERBOSE = {True: "DEBUG", False: "WARNING"}


def from_settings(huey_setting: Any) -> dict[str, Any]:
    """hueyd settings from ``HUEY["consumer"]``, each checked (a bad one: ConfigError)."""
    options = huey_setting.get("consumer") if isinstance(huey_setting, dict) else None
    values: dict[str, Any] = {}
    for key, raw in (options or {}).items():
        label = f"HUEY['consumer']['{key}']"
        if key == "verbose":
            key, raw = "log_level", VERBOSE.get(raw, "INFO")
        name = HUEY_NAMES.get(key, key)
        spec = SETTINGS.get(name)
        if spec is None or name in LEFT_OUT:
            raise ConfigError("settings", label, "not an option of run_huey")
        values[name] = spec.value(raw, "settings", label)
    return values


class Command(BaseCommand):
    help = "Run the hueyd consumer of this project's HUEY (its tasks.py modules' tasks)."

    def add_arguments(self, parser: Any) -> None:
        cli.add_setting_options(parser, skip=LEFT_OUT,
                                renamed={"-v": "-V", "--verbose": "--huey-verbose"})
        parser.add_argument("-A", "--disable-autoload", action="store_true",
                            help="do not import each installed app's tasks module")

    def handle(self, *args: Any, **options: Any) -> None:
        module = os.environ.get("DJANGO_SETTINGS_MODULE") or settings.SETTINGS_MODULE
        # a reload's check runs `python -m hueyd check` from here: it must find the project
        project = sys.path[0] or os.getcwd()
        os.environ["PYTHONPATH"] = os.pathsep.join(
            p for p in (project, os.environ.get("PYTHONPATH")) if p)
        try:
            overrides = from_settings(getattr(settings, "HUEY", None))
            overrides.update((spec.name, options[spec.name]) for spec in cli.RUN_OPTIONS
                             if spec.name in options and spec.name not in LEFT_OUT)
            overrides["app"] = DJANGO_APP
            check = [DJANGO_APP]
            if not options["disable_autoload"]:  # django.setup() again is a no-op
                overrides["django_settings"] = module
                check += ["--django-settings", module]
            code = cli.run_command(load_config(None, overrides), check)
        except ConfigError as error:
            code = cli.fail(error)
        if code:
            sys.exit(code)
