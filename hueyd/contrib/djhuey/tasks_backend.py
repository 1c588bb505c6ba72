"""A backend for Django's tasks framework that runs its tasks on the project's Huey.

``TASKS = {"default": {"BACKEND": "hueyd.contrib.djhuey.tasks_backend.HueyBackend"}}``
(Django 6's ``django.tasks``, or the ``django-tasks`` package before it). ``enqueue``
queues one Huey task, ``run_django_task``, which imports the Django task's function
by its module path in the worker and runs it; ``run_after`` becomes the Huey task's ETA
and the priority its priority (on a priority storage). The task's record (status,
times, errors, return value: the fields of a ``TaskResult``) is kept in the Huey's
key/value store under its id, so ``get_result`` answers from any process.
Options: ``ENQUEUE_ON_COMMIT`` (enqueue when the transaction commits).
"""
from __future__ import annotations

import os
import socket
import traceback
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from hueyd.contrib.djhuey.core import HUEY, close_db

try:  # Django 6
    from django.tasks import Task, TaskContext, TaskResult, TaskResultStatus
    from django.tasks.backends.base import BaseTaskBackend
    from django.tasks.base import TaskError
    from django.tasks.exceptions import InvalidTask, TaskResultDoesNotExist
    from django.tasks.signals import task_enqueued, task_finished, task_started
    from django.utils.json import normalize_json
except ImportError:  # Django 4.2 / 5.x with the django-tasks package
    from django_tasks.backends.base import BaseTaskBackend
    from django_tasks.base import Task, TaskContext, TaskError, TaskResult, TaskResultStatus
    from django_tasks.exceptions import TaskResultDoesNotExist
    from django_tasks.signals import task_enqueued, task_finished, task_started
    from django_tasks.utils import normalize_json
    try:
        from django_tasks.exceptions import InvalidTask
    except ImportError:  # django-tasks 0.12 and older
        from django_tasks.exceptions import InvalidTaskError as InvalidTask

#: where a Django task's record lives in the Huey's key/value store
RECORD = "django-task:{}"
TIMES = ("enqueued_at", "started_at", "last_attempted_at", "finished_at", "run_after")


def _now() -> str:
    return timezone.now().isoformat()


def _function(module_path: str) -> Any:
    found = import_string(module_path)
    return found.func if isinstance(found, Task) else found


class _Stored(Task):
    """A Task rebuilt from a record: not validated again (settings may have changed)."""

    def __post_init__(self) -> None:
        pass


def to_result(record: dict[str, Any]) -> TaskResult:
    """The ``TaskResult`` a record describes."""
    times = {k: datetime.fromisoformat(record[k]) if record[k] else None for k in TIMES}
    task = _Stored(func=_function(record["module_path"]), priority=record["priority"],
                   backend=record["backend"], queue_name=record["queue_name"],
                   run_after=times.pop("run_after"), takes_context=record["takes_context"])
    result = TaskResult(task=task, id=record["id"], status=TaskResultStatus(record["status"]),
                        args=record["args"], kwargs=record["kwargs"], backend=record["backend"],
                        errors=[TaskError(exception_class_path=path, traceback=text)
                                for path, text in record["errors"]],
                        worker_ids=list(record["worker_ids"]), **times)
    if record["status"] == TaskResultStatus.SUCCESSFUL:
        object.__setattr__(result, "_return_value", record["return_value"])
    return result


def _save(record: dict[str, Any]) -> None:
    HUEY.put_result(RECORD.format(record["id"]), record)


@HUEY.task(context=True)
@close_db
def run_django_task(module_path: str, args: list, kwargs: dict, task: Any = None) -> None:
    """In the worker: run the Django task, keeping its record (if any) up to date."""
    record = HUEY.get(RECORD.format(task.id), peek=True) if task is not None else None
    if record is None:  # its record expired or was removed: still run it
        _function(module_path)(*args, **kwargs)
        return
    record.update(status=TaskResultStatus.RUNNING.value, started_at=_now())
    record["last_attempted_at"] = record["started_at"]
    record["worker_ids"].append(f"{socket.gethostname()}:{os.getpid()}")
    _save(record)
    task_started.send(sender=HueyBackend, task_result=to_result(record))
    try:
        function = _function(module_path)
        if record["takes_context"]:
            value = function(TaskContext(task_result=to_result(record)), *args, **kwargs)
        else:
            value = function(*args, **kwargs)
        record.update(return_value=normalize_json(value),
                      status=TaskResultStatus.SUCCESSFUL.value)
    except Exception as exc:
        kind = type(exc)
        record["errors"].append([f"{kind.__module__}.{kind.__qualname__}",
                                 "".join(traceback.format_exception(exc))])
        record["status"] = TaskResultStatus.FAILED.value
        raise  # Huey's own error handling (retries, the error result) applies too
    finally:
        record["finished_at"] = _now()
        _save(record)
        task_finished.send(sender=HueyBackend, task_result=to_result(record))


class HueyBackend(BaseTaskBackend):
    """Django tasks onto ``hueyd.contrib.djhuey.HUEY``."""

    supports_defer = True
    supports_get_result = True

    def __init__(self, alias: str, params: dict) -> None:
        super().__init__(alias, params)
        self.enqueue_on_commit = bool(params.get("ENQUEUE_ON_COMMIT",
                                                 self.options.get("enqueue_on_commit", False)))

    @property
    def supports_priority(self) -> bool:  # type: ignore[override]
        return bool(getattr(HUEY.storage, "priority", False))

    def enqueue(self, task: Task, args: Any, kwargs: Any) -> TaskResult:
        self.validate_task(task)
        if _function(task.module_path) is not task.func:
            raise InvalidTask(f"{task.module_path} is not importable by that path (a lambda, "
                              "a nested or class-body function): a worker could not run it")
        args, kwargs = normalize_json(list(args)), normalize_json(dict(kwargs))
        message = run_django_task.s(task.module_path, args, kwargs,
                                    priority=task.priority or None, eta=task.run_after)
        record = {"id": message.id, "backend": self.alias, "module_path": task.module_path,
                  "priority": task.priority, "queue_name": task.queue_name,
                  "takes_context": task.takes_context, "status": TaskResultStatus.READY.value,
                  "run_after": task.run_after.isoformat() if task.run_after else None,
                  "enqueued_at": None, "started_at": None, "last_attempted_at": None,
                  "finished_at": None, "args": args, "kwargs": kwargs, "return_value": None,
                  "errors": [], "worker_ids": []}

        def send() -> None:
            record["enqueued_at"] = _now()
            _save(record)
            task_enqueued.send(sender=HueyBackend, task_result=to_result(record))
            HUEY.enqueue(message)

        if self.enqueue_on_commit:
            transaction.on_commit(send)
            return to_result(record)
        send()
        # immediate mode has run it already: the stored record says how it went
        return to_result(HUEY.get(RECORD.format(message.id), peek=True) or record)

    def get_result(self, result_id: str) -> TaskResult:
        record = HUEY.get(RECORD.format(result_id), peek=True)
        if record is None:
            raise TaskResultDoesNotExist(result_id)
        return to_result(record)
