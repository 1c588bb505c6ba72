"""Handles on stored task results: Result, ResultGroup, ChordResult."""
from __future__ import annotations

import collections
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, NamedTuple

from hueyd.api.clock import normalize_time
from hueyd.api.exceptions import ResultTimeout, TaskException
from hueyd.constants import EmptyData

if TYPE_CHECKING:  # pragma: no cover
    from hueyd.api.huey import Huey
    from hueyd.api.task import Task


class Error(NamedTuple):
    """Stored in place of a result when a task failed; ``get`` raises it as TaskException."""

    metadata: dict


class _Skipped:
    """The value a chord sees for a member that was revoked, expired or canceled."""

    def __repr__(self) -> str:
        return "SKIPPED"

    def __reduce__(self) -> str:
        return "SKIPPED"


SKIPPED = _Skipped()

#: "no result yet" (a stored None is a real result when store_none=True)
_EMPTY = object()


class Result:
    """The eventual return value of one task, read from the result store.

    Reading a result removes it from storage (``preserve=True`` leaves it) and
    caches it on this handle; ``reset()`` forgets the cached value.
    """

    def __init__(self, huey: Huey, task: Task) -> None:
        self.huey = huey
        self.task = task
        self.revoke_id = task.revoke_id
        self._result: Any = _EMPTY

    def __repr__(self) -> str:
        return f"<Result: task {self.id}>"

    @property
    def id(self) -> str:
        return self.task.id

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.get(*args, **kwargs)

    def is_ready(self) -> bool:
        return self._get() is not _EMPTY

    def _get(self, preserve: bool = False) -> Any:
        if self._result is _EMPTY:
            raw = self.huey.get_raw(self.id, peek=preserve)
            if raw is not EmptyData:
                self._result = self.huey.serializer.deserialize(raw)
        return self._result

    def get_raw_result(self, blocking: bool = False, timeout: float | None = None,
                       backoff: float = 1.15, max_delay: float = 1.0,
                       revoke_on_timeout: bool = False, preserve: bool = False) -> Any:
        value = self._get(preserve)
        if value is not _EMPTY:
            return value
        if not blocking:
            return None
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.01
        while True:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                break
            time.sleep(delay if remaining is None else min(delay, remaining))
            delay = min(delay * backoff, max_delay)
            value = self._get(preserve)
            if value is not _EMPTY:
                return value
        if revoke_on_timeout:
            self.revoke()
        raise ResultTimeout(f"timed out waiting for the result of task {self.id}")

    def get(self, blocking: bool = False, timeout: float | None = None, backoff: float = 1.15,
            max_delay: float = 1.0, revoke_on_timeout: bool = False,
            preserve: bool = False) -> Any:
        """The task's return value, None if not ready; raises TaskException if it failed."""
        value = self.get_raw_result(blocking, timeout, backoff, max_delay,
                                    revoke_on_timeout, preserve)
        if isinstance(value, Error):
            raise TaskException(value.metadata)
        return value

    def is_revoked(self) -> bool:
        return self.huey.is_revoked(self.task, peek=True)

    def revoke(self, revoke_once: bool = True) -> None:
        self.huey.revoke(self.task, revoke_once=revoke_once)

    def restore(self) -> bool:
        return self.huey.restore(self.task)

    def reschedule(self, eta: Any = None, delay: Any = None, expires: Any = None,
                   priority: int | None = None, preserve_pipeline: bool = True) -> Any:
        """Revoke this run and enqueue a copy (new id) at ``eta``/``delay`` (or now)."""
        self.revoke()
        if eta is not None or delay is not None:
            eta = normalize_time(eta, delay, self.huey.utc)
        task = self.task
        task_copy = type(task)(
            task.args, task.kwargs, eta=eta, retries=task.retries,
            retry_delay=task.retry_delay, retry_backoff=task.retry_backoff,
            priority=task.priority if priority is None else priority,
            expires=task.expires if expires is None else expires,
            timeout=task.timeout, chord_config=task.chord_config,
            on_complete=task.on_complete if preserve_pipeline else None,
            on_error=task.on_error if preserve_pipeline else None)
        return self.huey.enqueue(task_copy)

    def reset(self) -> None:
        self._result = _EMPTY


class ResultGroup:
    """Results of a pipeline, a group or ``map()``; ``get`` returns a list."""

    def __init__(self, results: list[Result]) -> None:
        self._results = results

    def get(self, *args: Any, **kwargs: Any) -> list[Any]:
        return [result.get(*args, **kwargs) for result in self._results]

    __call__ = get

    def __getitem__(self, idx: int) -> Any:
        return self._results[idx].get(True)

    def __iter__(self) -> Iterator[Result]:
        return iter(self._results)

    def __len__(self) -> int:
        return len(self._results)

    def as_completed(self, backoff: float = 1.15, max_delay: float = 1.0) -> Iterator[Any]:
        """Yield values as their tasks finish, polling each with its own backoff."""
        pending = collections.deque(self._results)
        delays = {r.id: 0.0 for r in pending}
        while pending:
            result = pending.popleft()
            if delays[result.id]:
                time.sleep(delays[result.id])
            if result._get() is _EMPTY:
                pending.append(result)
                delays[result.id] = min((delays[result.id] or 0.1) * backoff, max_delay)
            else:
                yield result.get()

    def revoke(self, revoke_once: bool = True) -> None:
        for result in self._results:
            result.revoke(revoke_once)

    def reset(self) -> None:
        for result in self._results:
            result.reset()


class ChordResult:
    """The members' results plus the callback's (``get`` is the callback's value)."""

    def __init__(self, results: list[Result], callback: Result,
                 pipeline: ResultGroup | None = None) -> None:
        self.results = ResultGroup(results)
        self.callback = callback
        self.pipeline_results = pipeline

    def get(self, *args: Any, **kwargs: Any) -> Any:
        return self.callback.get(*args, **kwargs)

    __call__ = get

    def reset(self) -> None:
        self.callback.reset()
