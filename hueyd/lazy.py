"""Module attributes imported on first use (PEP 562), for the modules that give huey's
names: ``import hueyd`` (or ``hueyd.utils``) must import nothing heavy, so the command
line can monkey-patch for gevent before redis, threading or the app load."""
from __future__ import annotations

import importlib
import sys

#: typing costs ~8 ms to import and ``import hueyd`` must stay cheap: checkers see ``Any``
TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable
    from typing import Any


def exports(module_name: str, table: dict[str, str], fallback: str | None = None,
            ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for module ``module_name``.

    ``table`` maps a public name to the module that defines it (``"pkg.mod"``, or
    ``"pkg.mod:other_name"`` where hueyd names it differently); any other public name
    of ``fallback`` (its ``__all__`` if it has one) comes from there, so names added to
    the module this one fronts show here too. Submodules never resolve here: ``from pkg
    import sub`` imports them as usual.
    """
    module = sys.modules[module_name]

    def __getattr__(name: str) -> Any:
        source = table.get(name)
        if source is None and fallback and is_public(importlib.import_module(fallback), name):
            source = fallback
        if source is None:
            raise AttributeError(f"module {module_name!r} has no attribute {name!r}")
        path, _, attribute = source.partition(":")
        try:
            value = getattr(importlib.import_module(path), attribute or name)
        except AttributeError:
            raise AttributeError(f"module {module_name!r} has no attribute {name!r}") from None
        setattr(module, name, value)  # later lookups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(module)) | set(table))

    return __getattr__, __dir__


def is_public(module: Any, name: str) -> bool:
    """``name`` is in ``module.__all__``; without one, a constant (``UPPER_CASE``) or a
    class or function defined there (not what it imports)."""
    listed = getattr(module, "__all__", None)
    if listed is not None:
        return name in listed
    if name.startswith("_") or not hasattr(module, name):
        return False
    return name.isupper() or getattr(getattr(module, name), "__module__", None) == module.__name__
