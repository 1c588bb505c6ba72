"""The project's Huey (``settings.HUEY``) and what ``hueyd.contrib.djhuey`` exports.

``db_task`` and ``db_periodic_task`` close the worker's stale database connections before
and after each run (Django does that per request; a worker has no requests), except in
immediate mode, where the task runs inside the caller's own request or test.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.db import close_old_connections, transaction

from hueyd.contrib.djhuey.from_settings import build

#: the package whose tasks_backend module TASKS may name
PACKAGE = "hueyd.contrib.djhuey"

HUEY = build(settings)

# decorators
task = HUEY.task
periodic_task = HUEY.periodic_task
lock_task = HUEY.lock_task
context_task = HUEY.context_task
# task management
enqueue = HUEY.enqueue
restore = HUEY.restore
restore_all = HUEY.restore_all
restore_by_id = HUEY.restore_by_id
revoke = HUEY.revoke
revoke_all = HUEY.revoke_all
revoke_by_id = HUEY.revoke_by_id
is_revoked = HUEY.is_revoked
result = HUEY.result
scheduled = HUEY.scheduled
# hooks and signals
on_startup = HUEY.on_startup
on_shutdown = HUEY.on_shutdown
pre_execute = HUEY.pre_execute
post_execute = HUEY.post_execute
signal = HUEY.signal
disconnect_signal = HUEY.disconnect_signal


def close_db(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` with ``close_old_connections()`` before and after it (not when immediate)."""
    @wraps(fn)
    def inner(*args: Any, **kwargs: Any) -> Any:
        if not HUEY.immediate:
            close_old_connections()
        try:
            return fn(*args, **kwargs)
        finally:
            if not HUEY.immediate:
                close_old_connections()
    return inner


def _closing_db(decorate: Callable[..., Any]) -> Callable[..., Any]:
    """``decorate`` (task, periodic_task) applied to the function wrapped in ``close_db``;
    ``call_local`` stays the bare function, as in huey."""
    def factory(*args: Any, **kwargs: Any) -> Callable[[Callable[..., Any]], Any]:
        def decorator(fn: Callable[..., Any]) -> Any:
            wrapper = decorate(*args, **kwargs)(close_db(fn))
            wrapper.call_local = fn
            return wrapper
        return decorator
    return factory


#: ``task`` / ``periodic_task`` for a function that uses the database
db_task = _closing_db(task)
db_periodic_task = _closing_db(periodic_task)


def on_commit_task(*args: Any, **kwargs: Any) -> Callable[[Callable[..., Any]], Any]:
    """A task enqueued only when the current transaction commits (never, if it rolls
    back); calling it returns the Result handle at once."""
    def decorator(fn: Callable[..., Any]) -> Callable[..., Any]:
        wrapper = task(*args, **kwargs)(close_db(fn))

        @wraps(fn)
        def inner(*a: Any, **k: Any) -> Any:
            pending = wrapper.s(*a, **k)
            transaction.on_commit(lambda: HUEY.enqueue(pending))
            from hueyd.api.result import Result
            return Result(HUEY, pending) if HUEY.results else None
        inner.call_local = fn  # type: ignore[attr-defined]
        return inner
    return decorator


def uses_tasks_backend() -> bool:
    """Whether Django's TASKS setting names this package's backend (its worker-side task
    must then be registered wherever HUEY is, the consumer included)."""
    backends = getattr(settings, "TASKS", None) or {}
    return isinstance(backends, dict) and any(
        isinstance(b, dict) and str(b.get("BACKEND", "")).startswith(PACKAGE)
        for b in backends.values())

