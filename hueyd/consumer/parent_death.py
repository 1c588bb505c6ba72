"""A forked worker learns that its master died: the kernel's parent-death signal.

Without it, a worker whose master was SIGKILLed (outside systemd's cgroup kill: a
terminal, ``--daemonize``) kept taking tasks with nobody supervising it. Two ways
to notice were possible; the signal was chosen:

- ``prctl(PR_SET_PDEATHSIG, SIGTERM)``: the kernel sends SIGTERM the moment the
  master exits, however it dies, and the worker's SIGTERM handler already does the
  right thing (interrupt the running task, hand it and those taken ahead back).
  It arrives while the worker is blocked in a task or a Redis read, needs no thread
  in the worker and no file descriptor kept right, and ``prctl`` is in systemd's
  ``@system-service`` (a plain ctypes call: no callback, so MemoryDenyWriteExecute
  does not mind).
- EOF on a pipe the master holds open would need every other copy of its write
  end closed: each worker forked later inherits the master's copy, and so does
  anything else the master forks. And EOF is only seen where somebody reads: a
  worker inside a task would need a watching thread to interrupt itself.

Two catches, both covered by :func:`orphaned` (``getppid`` no longer the master):
the kernel sends the signal when the *thread* that forked exits, so it is asked
for only when the master's main thread forks (it lives as long as the process);
and a master that died before ``prctl`` ran sends nothing, so the worker checks
right after asking. A worker forked by another thread, or on a system without
``prctl``, still stops between tasks through the same check in its stop flag.
"""
from __future__ import annotations

import ctypes
import os
import sys
from functools import lru_cache
from typing import Any

#: linux/prctl.h
PR_SET_PDEATHSIG = 1


@lru_cache(maxsize=1)
def _prctl() -> Any:
    """libc's prctl, loaded once (in the master, before forking), or None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def prepare() -> None:
    """Load prctl in the master, so each forked worker does not."""
    _prctl()


def ask_for_signal(signum: int) -> str | None:
    """Ask the kernel for ``signum`` when this process's parent (thread) dies; None
    when done, else why not (the caller logs it once)."""
    prctl = _prctl()
    if prctl is None:
        return "prctl is not available on this system"
    if prctl(PR_SET_PDEATHSIG, ctypes.c_ulong(signum), ctypes.c_ulong(0), ctypes.c_ulong(0),
             ctypes.c_ulong(0)) != 0:
        return f"prctl(PR_SET_PDEATHSIG) failed: {os.strerror(ctypes.get_errno())}"
    return None


def orphaned(master_pid: int) -> bool:
    """True once the process that forked us is gone (we were handed to another parent)."""
    return os.getppid() != master_pid
