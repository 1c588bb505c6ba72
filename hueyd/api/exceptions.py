"""Exceptions of huey's public API, plus :class:`MessageError` for messages we refuse to run."""
from __future__ import annotations

from typing import Any


class HueyException(Exception):
    """Base of every error hueyd raises on purpose."""


class ConfigurationError(HueyException):
    """The Huey instance or a task was declared with settings that cannot work."""


class TaskLockedException(HueyException):
    """``lock_task`` could not take its lock because another holder has it."""


class ResultTimeout(HueyException):
    """A blocking ``Result.get`` waited ``timeout`` seconds without a result."""


class TaskTimeout(HueyException):
    """A task ran past its ``timeout`` (raised by the consumer's timeout handler)."""


class RateLimitExceeded(HueyException):
    """A ``huey.rate_limit`` window is used up; ``delay`` is the seconds until the next
    window opens, ``retry`` whether the task is run again then. Its arguments are
    ``(key, delay, retry)``, so it pickles (process workers, stored errors)."""

    def __init__(self, key: str, delay: float, retry: bool = True) -> None:
        self.key, self.delay, self.retry = key, delay, retry
        super().__init__(key, delay, retry)

    def __str__(self) -> str:
        if self.retry:
            return f'rate limit "{self.key}" exceeded, retry in {self.delay:0.1f}s'
        return f'rate limit "{self.key}" exceeded'


class MessageError(HueyException):
    """Queue bytes that cannot be trusted or read: bad signature, garbage, unknown task.

    Such a message is never unpickled past the check that failed; the consumer
    dead-letters it instead of running it.
    """


class EnqueueManyError(HueyException):
    """A task of a bulk enqueue was not enqueued, nor any after it. ``index``: its
    place in the call (from 0); ``task``: the task; ``enqueued``: how many before it
    are queued; ``results``: their results (None without results). The error that
    stopped it is ``__cause__``."""

    def __init__(self, index: int, task: Any, enqueued: int,
                 results: Any, cause: BaseException) -> None:
        self.index, self.task, self.enqueued, self.results = index, task, enqueued, results
        super().__init__(f"task {index} of the batch ({task!r}) was not enqueued, nor any "
                         f"after it ({enqueued} before it were): "
                         f"{type(cause).__name__}: {cause}")


class CancelExecution(Exception):
    """Raised by a pre-execute hook (or a task) to skip a run.

    ``retry=None`` retries only if the task has retries left, ``True`` always
    retries, ``False`` never does.
    """

    def __init__(self, msg: str | None = None, retry: bool | None = None) -> None:
        self.retry = retry
        super().__init__(*(() if msg is None else (msg,)))


class RetryTask(Exception):
    """Raised by a task to ask for another run, now or at ``eta`` / after ``delay``."""

    def __init__(self, msg: str | None = None, eta: Any = None, delay: Any = None,
                 *args: Any) -> None:
        self.eta, self.delay = eta, delay
        super().__init__(msg, *args)


class TaskException(Exception):
    """What ``Result.get`` raises for a task that failed; ``metadata`` describes the failure
    (``error``, ``retries``, ``traceback``, ``task_id``)."""

    def __init__(self, metadata: dict | None = None, *args: Any) -> None:
        self.metadata = metadata or {}
        super().__init__(*args)

    def __str__(self) -> str:
        return self.metadata.get("error") or "unknown error"


#: failures that do not count as errors while the task still has retries
RETRYING_EXCEPTIONS = (RetryTask, RateLimitExceeded, TaskLockedException)
