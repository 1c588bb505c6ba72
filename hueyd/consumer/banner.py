"""The lines a consumer logs when it starts (huey_consumer's banner, same facts), and
the storage's settings under which tasks vanish (also what ``hueyd check`` says)."""
from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from hueyd.storage.base import StorageError

if TYPE_CHECKING:  # pragma: no cover
    from hueyd.api.huey import Huey
    from hueyd.consumer.settings import ConsumerSettings

logger = logging.getLogger("hueyd.consumer")


def log_banner(huey: Huey, settings: ConsumerSettings, check_storage: bool = True) -> None:
    """``check_storage``: ask the storage about its settings now (the daemon asks once
    READY=1 is sent: three round trips less before its first task)."""
    logger.info("hueyd consumer for %s started with %d %s worker(s), PID %d",
                huey.name, settings.workers, settings.worker_type, os.getpid())
    logger.info("scheduler runs every %gs; periodic tasks are %s", settings.scheduler_interval,
                "enabled" if settings.periodic else "disabled")
    if check_storage:
        log_storage_warnings(huey)
    names = huey.task_names
    logger.info("the following tasks are available:%s",
                "".join(f"\n+ {name}" for name in names) if names else " none")


def log_storage_warnings(huey: Huey) -> None:
    storage_warnings(huey, logger.warning)


def storage_warnings(huey: Huey, say: Callable[[str], object]) -> None:
    """``say`` the storage's own settings that lose tasks (eviction, no persistence, a
    replica), one line each; nothing if it cannot be asked now (the start waits anyway)."""
    try:
        lines = huey.backend.server_warnings()
    except StorageError:
        return
    for line in lines:
        say(line)
