"""The Huey facade: huey's public API over a storage backend.

It owns configuration, the task registry, hooks and signals, and wires the helpers
that do the work, each given only the collaborators it uses: messages (codec.py),
key/value and introspection (store.py), execution (execution.py), revocation
(revocation.py), pipelines (pipeline.py), the consumer's calls (consuming.py:
dequeue / take_ahead / receive / execute / fail / finish / hand_back / settle). Setting
an attribute the helpers are built from (storage, serializer, utc, the result flags)
wires them again. The consumer drives it through public methods, never its internals.
"""
from __future__ import annotations

import functools
import logging
import warnings
from collections.abc import Callable
from typing import Any

from hueyd.api import bulk, pipeline
from hueyd.api import signals as S
from hueyd.api.clock import Instant, as_clock, to_posix
from hueyd.api.codec import TaskCodec
from hueyd.api.consuming import Consuming
from hueyd.api.exceptions import ConfigurationError
from hueyd.api.execution import Executor, ResultPolicy, build_error_result
from hueyd.api.hooks import Hook, Hooks
from hueyd.api.locks import TaskLock, flush_locks
from hueyd.api.ratelimit import RateLimit
from hueyd.api.registry import Registry
from hueyd.api.result import Result
from hueyd.api.revocation import Revocations
from hueyd.api.serializer import Serializer
from hueyd.api.store import Store
from hueyd.api.task import PeriodicTask, Task, TaskWrapper
from hueyd.api.wiring import StorageSlot, Wired, create_consumer, delegate, load_storage_class
from hueyd.storage.base import Storage, StorageError, refuse_priority

logger = logging.getLogger("hueyd")


class Huey:
    """A named task queue: decorate functions with ``@huey.task()``, call them to enqueue.

    ``secret_key`` signs every message (HMAC-SHA256); the consumer then refuses,
    and dead-letters, any message it cannot verify. Other keyword arguments go
    to the storage class.
    """

    storage_class: type[Storage] | str | None = None
    storage: Any = StorageSlot()  # huey's storage interface; sets .backend, hueyd's contract
    serializer: Any = Wired()
    utc: bool = Wired()  # type: ignore[assignment]
    results: bool = Wired()  # type: ignore[assignment]
    store_none: bool = Wired()  # type: ignore[assignment]
    store_intermediate_errors: bool = Wired()  # type: ignore[assignment]

    def __init__(self, name: str = "huey", results: bool = True, store_none: bool = False,
                 utc: bool = True, immediate: bool = False, serializer: Any = None,
                 compression: bool = False, use_zlib: bool = False,
                 immediate_use_memory: bool = True, storage_class: Any = None,
                 store_intermediate_errors: bool = True, secret_key: str | bytes | None = None,
                 **storage_kwargs: Any) -> None:
        self.name = name
        self.results = results
        self.store_none = store_none
        self.store_intermediate_errors = store_intermediate_errors
        self.utc = utc
        self._immediate = immediate
        self.immediate_use_memory = immediate_use_memory
        if serializer is None:
            serializer = Serializer(compression, use_zlib=use_zlib, secret_key=secret_key)
        elif secret_key is not None:
            raise ConfigurationError(f"Huey {name!r}: pass secret_key to the serializer "
                                     "you supply, not to Huey")
        self.serializer = serializer
        if storage_class is not None:
            self.storage_class = storage_class
        self.storage_kwargs = storage_kwargs
        self.storage = self.create_storage()
        self.task_wrapper_class = self.get_task_wrapper_class()
        self.registry = Registry()
        self.known_locks: set[str] = set()
        self.hooks = Hooks()
        self._signal = S.Signal()
        self._wire()

    def _wire(self) -> None:
        """Build the helpers from the current storage, serializer and flags."""
        handler = self.__dict__.get("_executor") and self._executor.timeout_handler
        self._codec = TaskCodec(self.serializer, self.registry, self.utc)
        self._store = Store(self.backend, self.serializer, self._codec.decode)
        self._revocations = Revocations(self.backend, self.registry, self.utc)
        self._pipelines = pipeline.Pipelines(self.backend, self.serializer, self.enqueue,
                                             functools.partial(Result, self))
        self._executor = Executor(
            storage=self.backend, serializer=self.serializer, hooks=self.hooks,
            emit=self._signal.send, revocations=self._revocations, pipelines=self._pipelines,
            producer=self, policy=ResultPolicy(self.results, self.store_none,
                                               self.store_intermediate_errors, self.utc))
        self._executor.timeout_handler = handler or None
        self._consuming = Consuming(self.name, self.backend, self._codec, self._executor,
                                    self.utc)

    @property
    def timeout_handler(self) -> Callable[[float], Any] | None:
        """``handler(seconds) -> context manager``, set by the consumer to enforce task
        timeouts."""
        return self._executor.timeout_handler

    @timeout_handler.setter
    def timeout_handler(self, handler: Callable[[float], Any] | None) -> None:
        self._executor.timeout_handler = handler

    def set_secret_key(self, secret_key: str | bytes) -> None:
        """Sign every message from now on, and refuse any that is not signed with
        ``secret_key``: how the daemon and :func:`hueyd.instance` give an app whose
        code builds its Huey without a key the server's key."""
        set_key = getattr(self.serializer, "set_secret_key", None)
        if set_key is None:
            raise ConfigurationError(f"Huey {self.name!r}: its serializer "
                                     f"{type(self.serializer).__name__} cannot sign messages")
        set_key(secret_key)

    # -- storage ---------------------------------------------------------------------
    def get_task_wrapper_class(self) -> type[TaskWrapper]:
        return TaskWrapper

    def create_storage(self) -> Storage:
        if self._immediate and self.immediate_use_memory:
            return self.get_immediate_storage()
        return self.get_storage(**self.storage_kwargs)

    def get_immediate_storage(self) -> Storage:
        from hueyd.storage.memory import MemoryStorage
        return MemoryStorage(self.name)

    def get_storage(self, **kwargs: Any) -> Storage:
        spec = self.storage_class
        if spec is None:
            warnings.warn("storage_class not specified when initializing huey, "
                          "will default to RedisStorage.", stacklevel=2)
            spec = "hueyd.storage.redis:RedisStorage"
        return load_storage_class(spec)(self.name, **kwargs)

    def replace_storage(self, **overrides: Any) -> Storage:
        """Rebuild the storage with ``overrides`` merged into the storage kwargs
        (the daemon's ``redis_url`` / ``sqlite_path``)."""
        self.storage_kwargs = {**self.storage_kwargs, **overrides}
        self._swap_storage()
        return self.storage

    def _swap_storage(self) -> None:
        old, self.storage = self.storage, self.create_storage()
        old.close()

    @property
    def immediate(self) -> bool:
        return self._immediate

    @immediate.setter
    def immediate(self, value: bool) -> None:
        if self._immediate != value:
            self._immediate = value
            if self.immediate_use_memory:
                self._swap_storage()

    # -- declaring tasks -----------------------------------------------------------------
    def task(self, retries: int = 0, retry_delay: float = 0, retry_backoff: float = 0,
             priority: int | None = None, context: bool = False, name: str | None = None,
             expires: Any = None, timeout: float | None = None,
             **kwargs: Any) -> Callable[[Callable], TaskWrapper]:
        def decorator(func: Callable) -> TaskWrapper:
            return self.task_wrapper_class(
                self, func.func if isinstance(func, TaskWrapper) else func, context=context,
                name=name, default_retries=retries, default_retry_delay=retry_delay,
                default_retry_backoff=retry_backoff, default_priority=priority,
                default_expires=expires, default_timeout=timeout, **kwargs)
        return decorator

    def periodic_task(self, validate_datetime: Callable[[Any], bool], retries: int = 0,
                      retry_delay: float = 0, retry_backoff: float = 0,
                      priority: int | None = None, context: bool = False,
                      name: str | None = None, expires: Any = None,
                      timeout: float | None = None,
                      **kwargs: Any) -> Callable[[Callable], TaskWrapper]:
        """A task the scheduler enqueues whenever ``validate_datetime(now)`` (a crontab) holds."""
        def method_validate(task: Task, timestamp: Any) -> bool:
            return validate_datetime(timestamp)
        return self.task(retries, retry_delay, retry_backoff, priority, context, name, expires,
                         timeout, task_base=PeriodicTask, validate_datetime=method_validate,
                         **kwargs)

    def context_task(self, obj: Any, as_argument: bool = False,
                     **kwargs: Any) -> Callable[[Callable], TaskWrapper]:
        """A task that runs inside ``with obj`` (e.g. a database connection)."""
        def decorator(fn: Callable) -> TaskWrapper:
            def inner(*a: Any, **k: Any) -> Any:
                with obj as ctx:
                    return fn(ctx, *a, **k) if as_argument else fn(*a, **k)
            inner.__name__, inner.__module__ = fn.__name__, fn.__module__
            inner.__doc__, inner.__qualname__ = fn.__doc__, fn.__qualname__
            return self.task(**kwargs)(inner)
        return decorator

    # -- hooks -----------------------------------------------------------------------------
    def pre_execute(self, name: str | None = None) -> Callable[[Hook], Hook]:
        """``fn(task)`` before each task; raising CancelExecution skips the task."""
        return self.hooks.register("pre_execute", name)

    def post_execute(self, name: str | None = None) -> Callable[[Hook], Hook]:
        """``fn(task, task_value, exc)`` after each task."""
        return self.hooks.register("post_execute", name)

    def on_startup(self, name: str | None = None) -> Callable[[Hook], Hook]:
        """``fn()`` once in each worker before it takes tasks."""
        return self.hooks.register("startup", name)

    def on_shutdown(self, name: str | None = None) -> Callable[[Hook], Hook]:
        """``fn()`` once in each worker when it stops."""
        return self.hooks.register("shutdown", name)

    def unregister_pre_execute(self, name: str | Hook) -> bool:
        return self.hooks.unregister("pre_execute", name)

    def unregister_post_execute(self, name: str | Hook) -> bool:
        return self.hooks.unregister("post_execute", name)

    def unregister_on_startup(self, name: str | Hook) -> bool:
        return self.hooks.unregister("startup", name)

    def unregister_on_shutdown(self, name: str | Hook) -> bool:
        return self.hooks.unregister("shutdown", name)

    def run_pre_execute(self, task: Task) -> None:
        self.hooks.run("pre_execute", task)

    def run_post_execute(self, task: Task, value: Any, exc: BaseException | None) -> None:
        self.hooks.run("post_execute", task, value, exc)

    def run_startup_hooks(self) -> None:
        self.hooks.run("startup")

    def run_shutdown_hooks(self) -> None:
        self.hooks.run("shutdown")

    # -- signals ---------------------------------------------------------------------------
    def signal(self, *signals: str) -> Callable[[Hook], Hook]:
        """Connect ``handler(signal, task, *args)`` to ``signals`` (all when none given)."""
        def decorator(fn: Hook) -> Hook:
            self._signal.connect(fn, *signals)
            return fn
        return decorator

    def disconnect_signal(self, receiver: Hook, *signals: str) -> None:
        self._signal.disconnect(receiver, *signals)

    def emit(self, signal: str, task: Any, *args: Any, **kwargs: Any) -> None:
        self._signal.send(signal, task, *args, **kwargs)

    # -- messages --------------------------------------------------------------------------
    def serialize_task(self, task: Task) -> bytes:
        return self._codec.encode(task)

    def deserialize_task(self, data: bytes) -> Task:
        """The task in ``data``; MessageError for garbage, a bad signature or an unknown task."""
        return self._codec.decode(data)

    create_consumer = create_consumer
    def enqueue_quietly(self, task: Task, what: str) -> None:
        """Enqueue a task the consumer creates (a pipeline stage, a periodic run); one
        whose data cannot be serialized is logged and dropped, never raised into the
        worker or scheduler. StorageError still propagates: the caller backs off."""
        try:
            self.enqueue(task)
        except StorageError:
            raise
        except Exception:
            logger.exception("cannot enqueue %s %s", what, task)

    def enqueue(self, task: Any) -> Any:
        """Queue a task, pipeline, group or chord; returns its Result(s) (None without results)."""
        if isinstance(task, pipeline.group):
            return self._pipelines.enqueue_group(task)
        if isinstance(task, pipeline.chord):
            return self._pipelines.enqueue_chord(task)
        refuse_priority(self.backend, task.priority)
        if task.expires:
            task.resolve_expires(self.utc)
        if task.handed_back:  # the SIGNAL_INTERRUPTED recipe: it is back in the queue already
            logger.info("task %s is back in the queue already: not enqueued twice", task.id)
        else:
            self.emit(S.SIGNAL_ENQUEUED, task)
            if self._immediate:
                self.execute(task)
            else:
                self.backend.enqueue(self.serialize_task(task), task.priority)
        return bulk.results_of(self, task) if self.results else None

    enqueue_many = bulk.enqueue_many  # tasks in batches: one storage step per batch

    def add_schedule(self, task: Task) -> None:
        refuse_priority(self.backend, task.priority)
        eta = 0.0 if task.eta is None else to_posix(task.eta, self.utc)
        self.backend.add_to_schedule(self.serialize_task(task), eta, task.priority)
        logger.info("added task %s to schedule, eta %s", task.id, task.eta)
        self.emit(S.SIGNAL_SCHEDULED, task)

    # -- the consumer's calls (consuming.py) --------------------------------------------
    dequeue = delegate("_consuming", Consuming.dequeue)
    take_ahead = delegate("_consuming", Consuming.take_ahead)
    receive = delegate("_consuming", Consuming.receive)
    settle = delegate("_consuming", Consuming.settle)
    execute = delegate("_consuming", Consuming.execute)
    fail = delegate("_consuming", Consuming.fail)
    finish = delegate("_consuming", Consuming.finish)
    hand_back = delegate("_consuming", Consuming.hand_back)

    # -- scheduling ------------------------------------------------------------------------
    enqueue_due = delegate("_consuming", Consuming.enqueue_due)
    read_schedule = delegate("_consuming", Consuming.read_schedule)
    next_scheduled_time = delegate("_consuming", Consuming.next_scheduled_time)
    ready_to_run = delegate("_consuming", Consuming.ready_to_run)

    def read_periodic(self, timestamp: Instant | None = None) -> list[Task]:
        """Periodic tasks due at ``timestamp`` (a POSIX float is read in the Huey's clock)."""
        moment = as_clock(timestamp, self.utc)
        return [t for t in self.registry.periodic_tasks if t.validate_datetime(moment)]

    @property
    def task_names(self) -> list[str]:
        return self.registry.names

    # -- revocation ------------------------------------------------------------------------
    def revoke_all(self, task_class: Any, revoke_until: Any = None,
                   revoke_once: bool = False) -> None:
        self._revocations.revoke(self._revocations.class_key(task_class), revoke_until,
                                 revoke_once)

    def restore_all(self, task_class: Any) -> bool:
        return self.delete(self._revocations.class_key(task_class))

    def revoke(self, task: Task, revoke_until: Any = None, revoke_once: bool = False) -> None:
        self._revocations.revoke(task.revoke_id, revoke_until, revoke_once)

    def restore(self, task: Task) -> bool:
        return self.delete(task.revoke_id)

    def revoke_by_id(self, id: str, revoke_until: Any = None, revoke_once: bool = False) -> None:
        self.revoke(Task(id=id), revoke_until, revoke_once)

    def restore_by_id(self, id: str) -> bool:
        return self.restore(Task(id=id))

    def is_revoked(self, task: Any, timestamp: Instant | None = None, peek: bool = True) -> bool:
        return self._revocations.is_revoked(task, timestamp, peek)

    # -- locks and results ---------------------------------------------------------------------
    def lock_task(self, lock_name: str, ttl: float | None = None) -> TaskLock:
        return TaskLock(self, lock_name, ttl)

    def is_locked(self, lock_name: str) -> bool:
        return TaskLock(self, lock_name).is_locked()

    def flush_locks(self, *names: str) -> set[str]:
        return flush_locks(self, names)

    def rate_limit(self, name: str, limit: int, per: float, retry: bool = True) -> RateLimit:
        return RateLimit(self, name, limit, per, retry)

    #: ``(task, exception) -> dict``, what a failed run stores: override it to add fields
    build_error_result = staticmethod(build_error_result)

    def result(self, id: str, blocking: bool = False, timeout: float | None = None,
               backoff: float = 1.15, max_delay: float = 1.0,
               revoke_on_timeout: bool = False, preserve: bool = False) -> Any:
        return Result(self, Task(id=id)).get(
            blocking=blocking, timeout=timeout, backoff=backoff, max_delay=max_delay,
            revoke_on_timeout=revoke_on_timeout, preserve=preserve)

    # -- key/value and introspection (store.py) -------------------------------------------
    put = delegate("_store", Store.put)
    put_result = delegate("_store", Store.put_result)
    put_if_empty = delegate("_store", Store.put_if_empty)
    get_raw = delegate("_store", Store.get_raw)
    get = delegate("_store", Store.get)
    delete = delegate("_store", Store.delete)
    pending = delegate("_store", Store.pending)
    pending_count = delegate("_store", Store.pending_count)
    scheduled = delegate("_store", Store.scheduled)
    scheduled_count = delegate("_store", Store.scheduled_count)
    all_results = delegate("_store", Store.all_results)
    result_count = delegate("_store", Store.result_count)
    flush = delegate("_store", Store.flush)

    def __bool__(self) -> bool:
        return True

    def __len__(self) -> int:
        return self.pending_count()
