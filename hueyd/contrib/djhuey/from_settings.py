"""The Huey of a Django project, from its ``HUEY`` setting (huey 3.5.4's forms).

``HUEY`` is a Huey instance, or a dict: ``huey_class`` (default ``hueyd.RedisHuey``;
huey's own names, ``huey.RedisHuey``, mean hueyd's), ``name`` (default: the default
database's NAME), ``immediate`` (default: ``DEBUG``), any other Huey keyword (``results``,
``store_none``, ``utc``, ``blocking``, ...), ``connection`` (storage keywords, ``url``
too) and ``consumer`` (options of ``manage.py run_huey``, unused here). Unset: a
RedisHuey on localhost. A mistake is one ``ImproperlyConfigured`` line, no password.
"""
from __future__ import annotations

import importlib
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from hueyd.api.huey import Huey
from hueyd.daemon.loader import describe, describe_object
from hueyd.daemon.redact import redact

DEFAULT_CLASS = "hueyd.RedisHuey"


def default_name(settings: Any) -> str:
    """The default database's NAME (one queue per project), else ``huey``."""
    try:
        return str(settings.DATABASES["default"]["NAME"])
    except (AttributeError, KeyError, TypeError):
        return "huey"


def huey_class(path: Any) -> type:
    """``module.Class``; ``huey.X`` is hueyd's ``X`` (a settings file written for huey)."""
    if not isinstance(path, str) or "." not in path:
        raise ImproperlyConfigured(f"HUEY['huey_class']: expected module.Class, got {path!r}")
    module, _, name = path.rpartition(".")
    try:
        found = getattr(importlib.import_module("hueyd" if module == "huey" else module), name)
    except (ImportError, AttributeError) as exc:
        raise ImproperlyConfigured(f"HUEY['huey_class']: cannot import {path}: "
                                   f"{describe(exc)}") from None
    if not (isinstance(found, type) and issubclass(found, Huey)):
        raise ImproperlyConfigured(f"HUEY['huey_class']: {path} is not a hueyd Huey class")
    return found


def build(settings: Any) -> Huey:
    """The project's Huey, as ``settings.HUEY`` describes it."""
    value = getattr(settings, "HUEY", None)
    if value is None:
        return huey_class(DEFAULT_CLASS)(default_name(settings))
    if isinstance(value, Huey):
        return value
    if not isinstance(value, dict):
        raise ImproperlyConfigured(f"HUEY: expected a hueyd Huey or a dict, got "
                                   f"{describe_object(value)}")
    options = dict(value)
    name = options.pop("name", None) or default_name(settings)
    cls = huey_class(options.pop("huey_class", DEFAULT_CLASS))
    connection = options.pop("connection", None) or {}
    if not isinstance(connection, dict):
        raise ImproperlyConfigured("HUEY['connection']: expected a dict of storage keywords")
    options.pop("consumer", None)
    options.setdefault("immediate", bool(getattr(settings, "DEBUG", False)))
    options.update(connection)
    try:
        return cls(name, **options)
    except Exception as exc:  # noqa: BLE001 - the settings' keywords, refused by the class
        raise ImproperlyConfigured(redact(f"HUEY: {cls.__name__}({name!r}, ...) refused "
                                          f"the settings: {describe(exc)}")) from None
