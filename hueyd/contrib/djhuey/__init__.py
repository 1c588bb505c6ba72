"""Django integration, compatible with huey 3.5.4's ``huey.contrib.djhuey``.

Add ``hueyd.contrib.djhuey`` to ``INSTALLED_APPS`` (for ``manage.py run_huey``), set
``HUEY`` (see :mod:`hueyd.contrib.djhuey.from_settings`) and decorate tasks in each app's
``tasks.py`` with this module's ``task``, ``periodic_task``, ``db_task``, ... (defined in
:mod:`hueyd.contrib.djhuey.core`). When ``TASKS`` names this package's backend, its
worker-side task is registered here, so every process that has ``HUEY`` can run it.
"""
from __future__ import annotations

from hueyd.contrib.djhuey.core import (  # noqa: F401 - huey's djhuey names
    HUEY,
    close_db,
    context_task,
    db_periodic_task,
    db_task,
    disconnect_signal,
    enqueue,
    is_revoked,
    lock_task,
    on_commit_task,
    on_shutdown,
    on_startup,
    periodic_task,
    post_execute,
    pre_execute,
    restore,
    restore_all,
    restore_by_id,
    result,
    revoke,
    revoke_all,
    revoke_by_id,
    scheduled,
    signal,
    task,
    uses_tasks_backend,
)

if uses_tasks_backend():
    from hueyd.contrib.djhuey import tasks_backend  # noqa: F401 - registers its worker task
