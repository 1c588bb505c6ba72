"""User hooks around task execution and worker life: pre/post-execute, startup, shutdown."""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from hueyd.api.exceptions import CancelExecution

logger = logging.getLogger("hueyd.hooks")

Hook = Callable[..., Any]
KINDS = ("pre_execute", "post_execute", "startup", "shutdown")


class Hooks:
    """Named hooks per kind; a failing hook is logged and the others still run."""

    def __init__(self) -> None:
        self._by_kind: dict[str, dict[str, Hook]] = {kind: {} for kind in KINDS}

    def register(self, kind: str, name: str | None) -> Callable[[Hook], Hook]:
        def decorator(fn: Hook) -> Hook:
            self._by_kind[kind][name or fn.__name__] = fn
            return fn
        return decorator

    def unregister(self, kind: str, name: str | Hook) -> bool:
        key = name if isinstance(name, str) else name.__name__
        return self._by_kind[kind].pop(key, None) is not None

    def run(self, kind: str, *args: Any) -> None:
        """Call every hook of ``kind``; only a pre-execute hook may cancel (CancelExecution)."""
        for name, fn in list(self._by_kind[kind].items()):
            try:
                fn(*args)
            except CancelExecution:
                if kind != "pre_execute":
                    logger.exception("%s hook %s failed", kind, name)
                    continue
                logger.warning("task %s canceled by pre-execute hook %s", args[0], name)
                raise
            except Exception:
                logger.exception("%s hook %s failed", kind, name)
