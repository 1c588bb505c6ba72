"""Re-executing the master in place (same PID) for a reload, and what crosses the exec.

systemd tracks the main PID, so a reload that loads new application code replaces the
process image instead of starting a new process. What the new image needs from the old
one crosses in its environment: systemd's notify variables (the Notifier removed them
from ``os.environ`` so that workers never see them) and the scheduler's last minute.
"""
from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Mapping
from typing import Any

from hueyd.daemon.wakeup import MASTER_SIGNALS, SignalWakeup

#: the scheduler's last handled minute, carried to the re-executed image
PERIODIC_ENV = "HUEYD_PERIODIC_MINUTE"
#: what the Notifier removes from the environment; only the re-executed image gets it back
NOTIFY_ENV = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")
#: the directory hueyd was started in (the loader may chdir): re-exec from there
START_CWD = os.getcwd()

logger = logging.getLogger("hueyd.master")


def keep_notify_env(environ: Mapping[str, str]) -> dict[str, str]:
    """systemd's variables, kept before the Notifier removes them from ``environ``."""
    return {name: environ[name] for name in NOTIFY_ENV if name in environ}


def take_periodic_minute(environ: dict[str, str]) -> int | None:
    """The minute the previous image's scheduler handled last (removed from ``environ``)."""
    minute = environ.pop(PERIODIC_ENV, "")
    return int(minute) if minute.isdigit() else None


def reexec(notify_env: Mapping[str, str], periodic_minute: int | None) -> None:
    """Replace this process image with a fresh one: same PID, original argv. Returns
    only if the exec failed (OSError raised); the caller has blocked its signals."""
    argv = list(sys.orig_argv)
    env = {**os.environ, **notify_env}
    if periodic_minute:
        env[PERIODIC_ENV] = str(periodic_minute)
    logger.info("re-executing: %s", " ".join(argv))
    for handler in logging.getLogger().handlers:
        handler.flush()
    os.chdir(START_CWD)
    os.execve(sys.executable, argv, env)


def replace_image(storage: Any, wakeup: SignalWakeup, notify_env: Mapping[str, str],
                  periodic_minute: int | None) -> bool:
    """Re-execute the master on the new code; a signal arriving meanwhile stays pending
    for the new image. Returns False only if the exec failed (signals flow again)."""
    storage.close()
    wakeup.block()
    wakeup.uninstall()
    try:
        reexec(notify_env, periodic_minute)
    except OSError:
        logger.exception("re-executing failed")
        signal.pthread_sigmask(signal.SIG_UNBLOCK, MASTER_SIGNALS)
        return False
    return True  # pragma: no cover (the exec replaced this image)
