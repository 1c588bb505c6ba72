"""The lines a consumer logs when it starts (huey_consumer's banner, same facts)."""
from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from hueyd.api.huey import Huey
    from hueyd.consumer.settings import ConsumerSettings

logger = logging.getLogger("hueyd.consumer")


def log_banner(huey: Huey, settings: ConsumerSettings) -> None:
    logger.info("hueyd consumer for %s started with %d %s worker(s), PID %d",
                huey.name, settings.workers, settings.worker_type, os.getpid())
    logger.info("scheduler runs every %gs; periodic tasks are %s", settings.scheduler_interval,
                "enabled" if settings.periodic else "disabled")
    names = huey.task_names
    logger.info("the following tasks are available:%s",
                "".join(f"\n+ {name}" for name in names) if names else " none")
