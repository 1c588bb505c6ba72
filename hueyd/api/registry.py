"""Task classes by name, and the envelope that carries a task through storage.

The envelope is a plain dict of builtins (plus the task's own arguments), so
its pickle names no hueyd class and messages survive refactoring. Instants
travel as POSIX floats: producer and consumer may use different clocks.
"""
from __future__ import annotations

import time
from typing import Any, NamedTuple

from hueyd.api import envelope
from hueyd.api.clock import from_posix, to_posix
from hueyd.api.exceptions import HueyException, MessageError
from hueyd.api.task import Task

ENVELOPE_VERSION = 1


class ChordConfig(NamedTuple):
    """Where a pipeline's last task reports to its chord: id, member count, own index."""

    cid: str
    size: int
    idx: int
    callback: Task


class Registry:
    """``module.name`` -> task class, for every task of one Huey."""

    def __init__(self) -> None:
        self._tasks: dict[str, type[Task]] = {}
        self._names: dict[type[Task], str] = {}  # the registered classes' names

    @staticmethod
    def task_to_string(task_class: type[Task]) -> str:
        return f"{task_class.__module__}.{task_class.__name__}"

    def register(self, task_class: type[Task]) -> bool:
        key = self.task_to_string(task_class)
        if key in self._tasks:
            raise ValueError(f'a task named "{key}" is already registered: pass name= '
                             "to register this one under another name")
        self._tasks[key] = task_class
        self._names[task_class] = key
        return True

    def unregister(self, task_class: type[Task]) -> bool:
        self._names.pop(task_class, None)
        return self._tasks.pop(self.task_to_string(task_class), None) is not None

    def string_to_task(self, name: str) -> type[Task]:
        try:
            return self._tasks[name]
        except KeyError:
            raise HueyException(f"{name} not found in TaskRegistry") from None

    @property
    def names(self) -> list[str]:
        return sorted(self._tasks)

    @property
    def periodic_tasks(self) -> list[Task]:
        """A fresh instance of every periodic task."""
        return [cls() for cls in self._tasks.values() if hasattr(cls, "validate_datetime")]

    # -- envelope -----------------------------------------------------------------
    def to_envelope(self, task: Task, utc: bool) -> dict[str, Any]:
        """The envelope of ``task`` (and of its pipeline): built for every enqueue, so
        the name comes from a per-class table and nothing is called that can be skipped."""
        name = self._names.get(type(task))
        if name is None:  # not registered, or a class of the same name is
            name = self.task_to_string(type(task))
            if name not in self._tasks:
                raise HueyException(f"{name} not found in TaskRegistry")
        # A context task's injected self must not travel.
        if task.kwargs and task.kwargs.get("task") is task:
            task.kwargs.pop("task")
        chord = None
        if task.chord_config is not None:
            cc = task.chord_config
            chord = (cc.cid, cc.size, cc.idx, self.to_envelope(cc.callback, utc))
        return {
            "v": ENVELOPE_VERSION, "id": task.id, "name": name,
            "eta": None if task.eta is None else to_posix(task.eta, utc),
            "retries": task.retries, "retry_delay": task.retry_delay,
            "retry_backoff": task.retry_backoff, "priority": task.priority,
            "args": task.args, "kwargs": task.kwargs,
            "expires": task.expires,
            "expires_resolved": (None if task.expires_resolved is None
                                 else to_posix(task.expires_resolved, utc)),
            "timeout": task.timeout,
            "on_complete": (None if task.on_complete is None
                            else self.to_envelope(task.on_complete, utc)),
            "on_error": None if task.on_error is None else self.to_envelope(task.on_error, utc),
            "chord": chord,
            # when it was written: a task's wait in the queue is measured from here (or
            # from its eta); optional, an older message without it is not measured
            "enqueued": time.time(),
        }

    def from_envelope(self, env: Any, utc: bool) -> Task:
        """The Task an envelope describes; :class:`MessageError` if it is not one we can
        run (the reason names the field), whatever is wrong with it."""
        try:
            return self._from_envelope(env, utc)
        except MessageError:
            raise
        except RecursionError:
            raise MessageError("malformed task message: tasks nested too deeply") from None
        except Exception as exc:  # a task class of the app refusing these arguments
            raise MessageError(f"malformed task message: {type(exc).__name__}: "
                               f"{envelope.shown(str(exc))}") from None

    def _from_envelope(self, env: Any, utc: bool) -> Task:
        if not isinstance(env, dict) or env.get("v") != ENVELOPE_VERSION:
            raise MessageError("not a hueyd task message")
        name = envelope.task_name(env)
        cls = self._tasks.get(name)
        if cls is None:
            raise MessageError(f"unknown task {envelope.shown(name)}")
        envelope.check(env, utc)
        chord = env["chord"]
        task = cls(
            env["args"], env["kwargs"], id=env["id"],
            eta=None if env["eta"] is None else from_posix(env["eta"], utc),
            retries=env["retries"], retry_delay=env["retry_delay"],
            retry_backoff=env["retry_backoff"], priority=env["priority"],
            expires=env["expires"],
            expires_resolved=(None if env["expires_resolved"] is None
                              else from_posix(env["expires_resolved"], utc)),
            timeout=env["timeout"],
            on_complete=self._maybe_task(env["on_complete"], utc),
            on_error=self._maybe_task(env["on_error"], utc),
            chord_config=None if chord is None else ChordConfig(
                chord[0], chord[1], chord[2], self._from_envelope(chord[3], utc)))
        task.due_at = envelope.due_at(env)
        return task

    def _maybe_task(self, env: Any, utc: bool) -> Task | None:
        return None if env is None else self._from_envelope(env, utc)
