"""The self-pipe that wakes a process's loop when a signal arrives.

``signal.set_wakeup_fd`` makes the interpreter's C-level handler write a byte to
a non-blocking pipe, so a loop blocked in ``select`` on the read end returns even
when the signal arrives just before it blocks. The master and each forked worker
process (which must not share the master's pipe) arm one the same way.
"""
from __future__ import annotations

import os
import signal


def arm_wakeup_pipe() -> tuple[int, int, int]:
    """(read fd, write fd, the wakeup fd armed before): a new non-blocking pipe whose
    write end now receives a byte per signal."""
    read_fd, write_fd = os.pipe()
    os.set_blocking(read_fd, False)
    os.set_blocking(write_fd, False)
    previous = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    return read_fd, write_fd, previous
