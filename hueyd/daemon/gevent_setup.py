"""gevent's monkey-patching, done once, before logging handlers, redis or the app exist.

gevent up to 23.x (Debian 12 has 22.10) looks up its plugins with
``pkg_resources.iter_entry_points``; importing pkg_resources scans every installed
distribution and keeps the result, 5.6 MiB of a greenlet consumer's memory (measured).
While gevent patches, a stand-in answers the same question with ``importlib.metadata``;
it is removed from ``sys.modules`` right after, so an app that imports pkg_resources
itself gets the real one. Newer gevents do not ask.
"""
from __future__ import annotations

import sys
import types
from typing import Any


def _iter_entry_points(group: str, name: str | None = None) -> list[Any]:
    from importlib.metadata import entry_points
    return [ep for ep in entry_points(group=group) if name is None or ep.name == name]


def patch() -> None:
    """``monkey.patch_all()``; ImportError when gevent is not installed."""
    from gevent import monkey
    stand_in = None
    if "pkg_resources" not in sys.modules:
        stand_in = types.ModuleType("pkg_resources", "hueyd's stand-in while gevent patches")
        stand_in.iter_entry_points = _iter_entry_points  # type: ignore[attr-defined]
        sys.modules["pkg_resources"] = stand_in
    try:
        monkey.patch_all()
    finally:
        if stand_in is not None and sys.modules.get("pkg_resources") is stand_in:
            del sys.modules["pkg_resources"]
