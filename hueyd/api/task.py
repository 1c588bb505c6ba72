"""Task instances and the ``@huey.task`` wrapper: retries, delays, revocation, pipelines."""
from __future__ import annotations

import datetime as dt
import inspect
import os
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from hueyd.api.clock import normalize_expires, normalize_time
from hueyd.api.exceptions import ConfigurationError, TaskTimeout
from hueyd.api.result import ResultGroup

if TYPE_CHECKING:  # pragma: no cover
    from hueyd.api.huey import Huey
    from hueyd.api.result import Result


class Task:
    """One invocation of a task: arguments, identity, timing and its pipeline.

    ``TaskWrapper`` builds a subclass per decorated function; its ``default_*``
    attributes are the decorator's settings.
    """

    default_expires: Any = None
    default_priority: int | None = None
    default_retries = 0
    default_retry_delay: float = 0
    default_retry_backoff: float = 0
    default_timeout: float | None = None
    context = False
    #: the consumer handed this interrupted task back to the queue (SIGNAL_INTERRUPTED):
    #: it runs again by itself, and huey's re-enqueue recipe must not queue it twice
    handed_back = False

    def __init__(self, args: tuple | None = None, kwargs: dict | None = None,
                 id: str | None = None, eta: dt.datetime | None = None,
                 retries: int | None = None, retry_delay: float | None = None,
                 priority: int | None = None, expires: Any = None,
                 on_complete: Task | None = None, on_error: Task | None = None,
                 expires_resolved: dt.datetime | None = None, timeout: float | None = None,
                 chord_config: Any = None, retry_backoff: float | None = None) -> None:
        self.name = type(self).__name__
        self.args = () if args is None else tuple(args)
        self.kwargs = {} if kwargs is None else kwargs
        self.id = id or self.create_id()
        self.revoke_id = f"r:{self.id}"
        #: keys to delete when the message is acknowledged (set while executing)
        self.forget: list[str] = []
        self.eta = eta
        self.retries = self.default_retries if retries is None else retries
        self.retry_delay = self.default_retry_delay if retry_delay is None else retry_delay
        self.retry_backoff = self.default_retry_backoff if retry_backoff is None else retry_backoff
        self.priority = self.default_priority if priority is None else priority
        self.expires = self.default_expires if expires is None else expires
        self.expires_resolved = expires_resolved
        self.timeout = self.default_timeout if timeout is None else timeout
        self.chord_config = chord_config
        self.on_complete = on_complete
        self.on_error = on_error
        #: the storage Message this task came from (never serialized): execute acks it
        self.message: Any = None
        #: POSIX time it became due (eta or enqueue time), read from its message
        self.due_at: float | None = None
        self._deadline: float | None = None

    @property
    def data(self) -> tuple[tuple, dict]:
        return (self.args, self.kwargs)

    def __repr__(self) -> str:
        parts = [f"{type(self).__module__}.{self.name}: {self.id}"]
        if self.eta:
            parts.append(f"@{self.eta}")
        if self.expires:
            parts.append(f"exp={self.expires}")
        if self.priority:
            parts.append(f"p={self.priority}")
        if self.retries:
            parts.append(f"{self.retries} retries")
        text = " ".join(parts)
        if self.on_complete:
            text += f" -> {self.on_complete!r}"
        if self.on_error:
            text += f", on error {self.on_error!r}"
        return text

    def __hash__(self) -> int:
        return hash(self.id)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Task) and self.id == other.id and self.eta == other.eta
                and type(self) is type(other))

    def create_id(self) -> str:
        """A new task id, as huey makes them: ``str(uuid.uuid4())`` (see :func:`new_id`)."""
        return new_id()

    def resolve_expires(self, utc: bool = True) -> dt.datetime | None:
        """Fix the expiry instant; done once, when the task is enqueued."""
        if self.expires:
            self.expires_resolved = normalize_expires(self.expires, utc)
        return self.expires_resolved

    # -- timeouts (enforced by the consumer's timeout handler) ---------------------
    @property
    def time_remaining(self) -> float:
        if self._deadline:
            return max(0.0, self._deadline - time.monotonic())
        return float("inf")

    @property
    def is_timed_out(self) -> bool:
        return bool(self._deadline) and time.monotonic() >= self._deadline

    def check_timeout(self) -> None:
        if self.is_timed_out:
            raise TaskTimeout(f"timeout {self.timeout}s")

    # -- pipelines ------------------------------------------------------------------
    def extend_data(self, data: Any) -> None:
        """Feed a parent's return value into this task (huey's rule).

        A tuple extends the positional arguments, a dict fills keyword
        arguments that are not set yet, None adds nothing, anything else is
        appended as one more positional argument.
        """
        if data is None or data == ():
            return
        if isinstance(data, tuple):
            self.args += data
        elif isinstance(data, dict):
            for key, value in data.items():
                self.kwargs.setdefault(key, value)
        else:
            self.args += (data,)

    def then(self, task: Any, *args: Any, **kwargs: Any) -> Task:
        """Run ``task`` after this one succeeds, with this one's result appended."""
        if self.on_complete:
            self.on_complete.then(task, *args, **kwargs)
        else:
            self.on_complete = signature(task, args, kwargs)
        return self

    def error(self, task: Any, *args: Any, **kwargs: Any) -> Task:
        """Run ``task`` if this one fails, with the exception appended."""
        if self.on_error:
            self.on_error.error(task, *args, **kwargs)
        else:
            self.on_error = signature(task, args, kwargs)
        return self

    def execute(self) -> Any:
        raise NotImplementedError("TaskWrapper supplies execute()")


class PeriodicTask(Task):
    """A task the scheduler enqueues whenever ``validate_datetime(now)`` is true."""

    def validate_datetime(self, timestamp: dt.datetime) -> bool:
        return False


def signature(task: Any, args: tuple = (), kwargs: dict | None = None) -> Task:
    """A Task from a Task (arguments appended) or a TaskWrapper (``.s(*args, **kwargs)``)."""
    if not isinstance(task, Task):
        return task.s(*args, **(kwargs or {}))
    if args:
        task.extend_data(tuple(args))
    if kwargs:
        task.extend_data(kwargs)
    return task


#: keyword arguments of ``.s()`` that configure the task instead of reaching the function
_OPTION_NAMES = ("id", "retries", "retry_delay", "retry_backoff", "priority", "expires",
                 "timeout")


class TaskWrapper:
    """What ``@huey.task()`` returns: calling it enqueues, ``call_local`` runs in-process."""

    task_base: type[Task] = Task

    def __init__(self, huey: Huey, func: Callable, context: bool = False,
                 name: str | None = None, task_base: type[Task] | None = None,
                 **settings: Any) -> None:
        self.__doc__ = getattr(func, "__doc__", None)
        self.huey = huey
        self.func = func
        self.context = context
        self.name = name
        self.settings = settings
        if task_base is not None:
            self.task_base = task_base
        self.task_class = self.create_task(func, context, name, **settings)
        huey.registry.register(self.task_class)

    @property
    def retries(self) -> int:
        return self.task_class.default_retries

    @property
    def retry_delay(self) -> float:
        return self.task_class.default_retry_delay

    def unregister(self) -> bool:
        return self.huey.registry.unregister(self.task_class)

    def create_task(self, func: Callable, context: bool = False, name: str | None = None,
                    **settings: Any) -> type[Task]:
        if inspect.iscoroutinefunction(func):
            raise ConfigurationError(
                f"task {func.__qualname__}: async functions are not supported; "
                "wrap the coroutine with asyncio.run() in a plain function")

        def execute(task: Task) -> Any:
            args, kwargs = task.data
            if task.context:
                # A copy, so a retry never serializes the task into its own kwargs.
                kwargs = dict(kwargs, task=task)
            return func(*args, **kwargs)

        attrs = {"context": context, "execute": execute, "__module__": func.__module__,
                 "__doc__": func.__doc__, **settings}
        return type(name or func.__name__, (self.task_base,), attrs)

    # -- revocation of every instance --------------------------------------------------
    def is_revoked(self, timestamp: Any = None, peek: bool = True) -> bool:
        return self.huey.is_revoked(self.task_class, timestamp, peek)

    def revoke(self, revoke_until: dt.datetime | None = None, revoke_once: bool = False) -> None:
        self.huey.revoke_all(self.task_class, revoke_until, revoke_once)

    def restore(self) -> bool:
        return self.huey.restore_all(self.task_class)

    # -- enqueueing ---------------------------------------------------------------------
    def schedule(self, args: Any = None, kwargs: dict | None = None,
                 eta: dt.datetime | None = None, delay: Any = None,
                 priority: int | None = None, retries: int | None = None,
                 retry_delay: float | None = None, retry_backoff: float | None = None,
                 expires: Any = None, timeout: float | None = None,
                 id: str | None = None) -> Result | ResultGroup | None:
        """Enqueue to run at ``eta`` or after ``delay``; ``schedule(5)`` / ``schedule(datetime)``
        are shorthands, as in huey."""
        if eta is None and delay is None:
            if isinstance(args, (int, float)):
                delay = args
            elif isinstance(args, dt.timedelta):
                delay = args.total_seconds()
            elif isinstance(args, dt.datetime):
                eta = args
            else:
                raise ValueError("schedule() missing required eta= or delay=")
            args = None
        if kwargs is not None and not isinstance(kwargs, dict):
            raise ValueError("schedule() kwargs argument must be a dict.")
        task = self.task_class(
            tuple(args or ()), kwargs or {}, id=id,
            eta=normalize_time(eta, delay, self.huey.utc), retries=retries,
            retry_delay=retry_delay, retry_backoff=retry_backoff, priority=priority,
            expires=expires, timeout=timeout)
        return self.huey.enqueue(task)

    def s(self, *args: Any, **kwargs: Any) -> Task:
        """A task instance (not enqueued): a pipeline stage."""
        eta = kwargs.pop("eta", None)
        delay = kwargs.pop("delay", None)
        if isinstance(delay, dt.timedelta):
            delay = delay.total_seconds()
        if eta is not None or delay is not None:
            eta = normalize_time(eta, delay, self.huey.utc)
        options = {key: kwargs.pop(key, None) for key in _OPTION_NAMES}
        return self.task_class(args, kwargs, eta=eta, **options)

    def __call__(self, *args: Any, **kwargs: Any) -> Result | ResultGroup | None:
        if kwargs or type(self).s is not TaskWrapper.s:  # options, or a subclass's s()
            return self.huey.enqueue(self.s(*args, **kwargs))
        return self.huey.enqueue(self.task_class(args))  # what s() builds from args alone

    def call_local(self, *args: Any, **kwargs: Any) -> Any:
        return self.func(*args, **kwargs)

    def map(self, it: Iterable[Any]) -> ResultGroup | None:
        """Enqueue one task per item (a tuple item is the argument list), in batches:
        see :func:`hueyd.api.bulk.enqueue_many`."""
        return self.huey.enqueue_many(instances(self.task_class, it))


def instances(cls: type[Task], items: Iterable[Any]) -> Iterator[Task]:
    """``cls(args)`` for each item (a tuple is the argument list), for ``map()``. A class
    that keeps Task's own constructors gets copies of one task made the ordinary way,
    each with its own id, arguments and mutable fields: a third of the cost."""
    if (cls.__init__ is not Task.__init__ or cls.__new__ is not object.__new__
            or cls.create_id is not Task.create_id):
        for item in items:
            yield cls(item if isinstance(item, tuple) else (item,))
        return
    fields = cls(()).__dict__
    for item in items:
        task = object.__new__(cls)
        own = task.__dict__
        own.update(fields)
        own["id"] = task_id = new_id()
        own["revoke_id"] = "r:" + task_id
        own["args"] = item if isinstance(item, tuple) else (item,)
        own["kwargs"], own["forget"] = {}, []  # never shared between tasks
        yield task


#: ids made ahead, taken from the end (``list.pop`` is atomic: threads share it)
_ids: list[str] = []
#: how many ids one system call makes
ID_BLOCK = 256


def new_id() -> str:
    """A version 4 UUID as ``str(uuid.uuid4())`` writes it (36 characters, random bits
    from ``os.urandom``), made :data:`ID_BLOCK` at a time: a fifth of uuid4's cost. A
    forked child starts with none of its parent's (they would be the same ids)."""
    while True:
        try:
            return _ids.pop()
        except IndexError:
            _ids.extend(_id_block(ID_BLOCK))


#: a random hex digit -> uuid4's variant digit (its two top bits 10), from its low bits
_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def _id_block(count: int) -> list[str]:
    raw, variant = os.urandom(16 * count).hex(), _VARIANT
    return [f"{raw[at:at + 8]}-{raw[at + 8:at + 12]}-4{raw[at + 13:at + 16]}-"
            f"{variant[raw[at + 16]]}{raw[at + 17:at + 20]}-{raw[at + 20:at + 32]}"
            for at in range(0, len(raw), 32)]


os.register_at_fork(after_in_child=_ids.clear)
