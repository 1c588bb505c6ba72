"""Running one task with huey's semantics: schedule, revoke, expire, run, retry, report.

The outcome of every run is stored (result or Error) and announced (signals,
post-execute hooks, pipeline follow-ups) before the caller acks the message.
Exceptions that are not ``Exception`` (KeyboardInterrupt, SystemExit, gevent's
GreenletExit: the consumer interrupting a task) pass through untouched, so the
message stays unacked and the consumer can hand it back with ``huey.hand_back``.
The Executor is given what it uses: storage, serializer, hooks, the signal sender,
revocations, pipelines, and the Huey's producing side as a narrow :class:`Producer`.
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import datetime as dt
import functools
import logging
import time
import traceback
from collections.abc import Callable
from contextlib import AbstractContextManager as ContextManager
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from hueyd.api import runlog
from hueyd.api import signals as S
from hueyd.api.clock import normalize_time, to_posix
from hueyd.api.clock import now as clock_now
from hueyd.api.exceptions import (
    RETRYING_EXCEPTIONS,
    CancelExecution,
    RateLimitExceeded,
    RetryTask,
    TaskException,
    TaskLockedException,
    TaskTimeout,
)
from hueyd.api.result import Error
from hueyd.api.task import PeriodicTask, Task
from hueyd.storage.base import StorageError, StorageRefused

if TYPE_CHECKING:  # pragma: no cover
    from hueyd.api.hooks import Hooks
    from hueyd.api.pipeline import Pipelines
    from hueyd.api.revocation import Revocations
    from hueyd.storage.base import Storage

logger = logging.getLogger("hueyd.execution")
#: the context manager that does nothing (one, reused: it keeps no state)
NOTHING = contextlib.nullcontext()


class OutcomeNotStored(StorageError):
    """A task ran, and the storage failed while its outcome (result or error, retry,
    follow-up tasks) was being stored. ``store()`` tries again without running the
    task again; ``refused`` tells a storage that answered no from one that is away."""

    def __init__(self, message: str, store: Callable[[], None]) -> None:
        super().__init__(message)
        self.store = store

    @property
    def refused(self) -> bool:
        return isinstance(self.__cause__, StorageRefused)


def build_error_result(task: Task, exc: BaseException) -> dict:
    """The metadata TaskException carries to whoever reads the result."""
    if isinstance(exc, TaskException):
        error = exc.metadata.get("error") or repr(exc)
    else:
        error = repr(exc)
    return {"error": error, "retries": task.retries, "task_id": task.id,
            "traceback": "".join(traceback.format_exception(type(exc), exc,
                                                            exc.__traceback__))}


def _at(now: dt.datetime | None, utc: bool) -> dt.datetime:
    """``now``, or the current instant when none was given."""
    return clock_now(utc) if now is None else now


class ResultPolicy(NamedTuple):
    """What a Huey keeps of a run (its flags), and the clock it reads instants in."""

    results: bool
    store_none: bool
    store_intermediate_errors: bool
    utc: bool


class Producer(Protocol):
    """What running a task asks of the Huey: to queue or schedule a task again."""

    def enqueue(self, task: Task) -> Any: ...

    def enqueue_quietly(self, task: Task, what: str) -> None: ...

    def add_schedule(self, task: Task) -> None: ...

    def build_error_result(self, task: Task, exception: Exception) -> dict: ...


@dataclasses.dataclass(eq=False, kw_only=True)
class Executor:
    """huey's ``execute`` for one Huey; stateless apart from its collaborators and the
    consumer's ``timeout_handler`` (``handler(seconds) -> context manager``)."""

    storage: Storage
    serializer: Any
    hooks: Hooks
    emit: Callable[..., None]
    revocations: Revocations
    pipelines: Pipelines
    producer: Producer
    policy: ResultPolicy
    timeout_handler: Callable[[float], Any] | None = None

    def execute(self, task: Task, now: dt.datetime | None,
                guard: ContextManager[Any] | None = None,
                body: Callable[[], Any] | None = None) -> Any:
        """Run ``task`` at ``now`` (None: the current time, read only when a check needs
        it: most tasks have no eta, no expiry, and no revocation can exist);
        ``body`` (untimed) stands in for the task's own code."""
        utc = self.policy.utc
        if task.eta is not None and to_posix(task.eta, utc) > to_posix(_at(now, utc), utc):
            self.producer.add_schedule(task)
        elif self._may_be_revoked(task) and self.revocations.is_revoked(
                task, _at(now, utc), peek=False):
            logger.warning("task %s was revoked, not executing", task)
            self.emit(S.SIGNAL_REVOKED, task)
            self.pipelines.abort_member(task)
        elif task.expires_resolved is not None and task.expires_resolved < _at(now, utc):
            logger.info("task %s expired, not executing", task)
            self.emit(S.SIGNAL_EXPIRED, task)
            self.pipelines.abort_member(task)
        else:
            runlog.info(logger, "executing %s", task)
            self.emit(S.SIGNAL_EXECUTING, task)
            return self._run(task, guard, body)
        return None

    def fail(self, task: Task, error: Exception, now: dt.datetime) -> None:
        """Record ``error`` as the outcome of a run of ``task``: the run is replayed with
        a body that raises it, so retries, error results, signals and hooks follow the
        one code path of a failing task (pre-execute hooks run once more)."""
        def raise_error() -> None:
            raise error
        self.execute(task, now, body=raise_error)

    def _run(self, task: Task, guard: ContextManager[Any] | None = None,
             body: Callable[[], Any] | None = None) -> Any:
        try:
            self.hooks.run("pre_execute", task)
        except CancelExecution:
            self.emit(S.SIGNAL_CANCELED, task)
            self.pipelines.abort_member(task)
            return None

        value, exception, retry_eta = None, None, None
        start = time.monotonic()
        timed = body is None and bool(task.timeout)
        if timed:
            task._deadline = start + task.timeout
        try:
            with self._timeout_context(task) if timed else NOTHING, guard or NOTHING:
                value = task.execute() if body is None else body()
        except TaskTimeout as exc:
            logger.warning("task %s timed out: %s", task.id, exc)
            exception = exc
            self.emit(S.SIGNAL_TIMEOUT, task)
        except RateLimitExceeded as exc:
            retry_eta = self._rate_limited(task, exc)
            exception = exc
        except TaskLockedException as exc:
            logger.warning("task %s not run, %s", task.id, exc)
            exception = exc
            self.emit(S.SIGNAL_LOCKED, task)
        except RetryTask as exc:
            logger.info("task %s raised RetryTask, retrying", task.id)
            task.retries += 1
            if exc.eta is not None or exc.delay is not None:
                retry_eta = normalize_time(exc.eta, exc.delay, self.policy.utc)
            exception = exc
        except CancelExecution as exc:
            retry = exc.retry or (exc.retry is None and task.retries)
            task.retries = max(task.retries, 1) if retry else 0
            logger.warning("task %s raised CancelExecution (%s)", task.id,
                           "will be retried" if retry else "aborted, will not be retried")
            self.emit(S.SIGNAL_CANCELED, task)
            exception = exc
        except Exception as exc:
            logger.exception("unhandled exception in task %s", task.id)
            exception = exc
            self.emit(S.SIGNAL_ERROR, task, exc)
        else:
            runlog.info(logger, "%s executed in %0.3fs", task, time.monotonic() - start)

        self._record(task, value, exception, retry_eta)
        return value

    def _rate_limited(self, task: Task, exc: RateLimitExceeded) -> dt.datetime | None:
        """huey's rule: run again when the window opens (or after the task's own
        retry_delay) if the limit says ``retry`` (not counted against the task's
        retries) or the task has retries left; else the run failed for good."""
        self.emit(S.SIGNAL_RATE_LIMITED, task)
        if not (exc.retry or task.retries):
            logger.info("task %s rate-limited on %r", task.id, exc.key)
            return None
        delay = task.retry_delay or exc.delay
        logger.info("task %s rate-limited on %r, retrying in %.1fs", task.id, exc.key, delay)
        if exc.retry:
            task.retries += 1
        return normalize_time(None, delay, self.policy.utc)

    def _record(self, task: Task, value: Any, exception: Exception | None,
                retry_eta: dt.datetime | None) -> None:
        """Store and announce the outcome of a run; OutcomeNotStored if the storage fails."""
        if not isinstance(task, PeriodicTask):
            # A revoke that arrived while this run was in progress is now moot: deleted
            # with the acknowledgement when the task has a message (one round trip).
            if task.message is not None:
                task.forget.append(task.revoke_id)
            else:
                self.storage.delete_data(task.revoke_id)
        try:
            if exception is None:
                self._succeeded(task, value)
            else:
                self._failed(task, exception, retry_eta)
        except StorageError as exc:  # the store to try again, built only when needed
            outcome = (functools.partial(self._succeeded, task, value) if exception is None
                       else functools.partial(self._failed, task, exception, retry_eta))
            raise OutcomeNotStored(str(exc), outcome) from exc

    @staticmethod
    def _may_be_revoked(task: Task) -> bool:
        """False when the storage said, as it handed out the message, that it holds no
        revocation at all: the common case costs no read."""
        return task.message is None or task.message.revocations != 0

    def _timeout_context(self, task: Task) -> Any:
        handler = self.timeout_handler
        if handler is None:
            return NOTHING
        return handler(task.timeout)

    def _storing(self, task: Task) -> bool:
        return self.policy.results and not isinstance(task, PeriodicTask)

    def _succeeded(self, task: Task, value: Any) -> None:
        if self._storing(task) and (value is not None or self.policy.store_none):
            self._put_result(task.id, value)
        self.hooks.run("post_execute", task, value, None)
        self.emit(S.SIGNAL_COMPLETE, task)
        if task.on_complete is not None:
            task.on_complete.extend_data(value)
            self._follow_up(task.on_complete)
        if task.chord_config is not None:
            self.pipelines.member_done(task.chord_config, value)

    def _failed(self, task: Task, exception: Exception, retry_eta: dt.datetime | None) -> None:
        final = not task.retries
        surface = final or (self.policy.store_intermediate_errors
                            and not isinstance(exception, RETRYING_EXCEPTIONS))
        error = Error(self.producer.build_error_result(task, exception))
        if surface and self._storing(task):
            # A final failure also answers every later stage: they will never run.
            stage: Task | None = task
            while stage is not None:
                self._put_result(stage.id, error)
                stage = stage.on_complete if final else None
        self.hooks.run("post_execute", task, None, exception)
        if surface and task.on_error is not None:
            handler = copy.copy(task.on_error)  # shared by every retry of this task
            handler.extend_data(exception)
            self._follow_up(handler)
        if final:
            self.pipelines.abort_member(task, error)
        else:
            self.emit(S.SIGNAL_RETRYING, task)
            self._retry(task, retry_eta)

    def _retry(self, task: Task, retry_eta: dt.datetime | None) -> None:
        task.retries -= 1
        logger.info("requeueing %s, %s retries left", task.id, task.retries)
        if retry_eta is not None:
            task.eta = retry_eta
            self.producer.add_schedule(task)
        elif task.retry_delay:
            task.eta = normalize_time(delay=task.retry_delay, utc=self.policy.utc)
            if task.retry_backoff:
                task.retry_delay *= task.retry_backoff
            self.producer.add_schedule(task)
        else:
            self.producer.enqueue(task)

    def _put_result(self, key: str, value: Any) -> None:
        """Store a result; one that cannot be pickled is stored as an Error instead."""
        try:
            data = self.serializer.serialize(value)
        except Exception as exc:
            logger.exception("result of task %s cannot be serialized", key)
            data = self.serializer.serialize(Error({
                "error": f"result not serializable: {exc!r}", "retries": 0,
                "task_id": key, "traceback": ""}))
        self.storage.put_data(key, data, is_result=True)

    def _follow_up(self, task: Task) -> None:
        """Enqueue a pipeline stage; raising would leave the finished parent unacked."""
        self.producer.enqueue_quietly(task, "follow-up task")

