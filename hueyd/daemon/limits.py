"""How far each setting may go, and why: what passes ``hueyd check`` must run.

A value far outside what any deployment uses is a typo or an attack, and some
break the daemon only later (a timer of 1e308 s overflows when a task starts;
10,000 threads exhaust the open files). The bounds live here with their
reasons; ``config.py`` applies them.
"""
from __future__ import annotations

import re
import resource
from typing import Any

from hueyd.daemon.listen import parse_listen

#: most workers per type. Thread and greenlet workers live in one process and each holds
#: a storage connection (an open file; Redis serves 10,000 clients by default), and threads
#: share one GIL. A process worker costs 25-50 MiB and a CPU's share: 256 covers the
#: largest common servers. Greenlets cost a few kB and serve thousands of waiting tasks.
MAX_WORKERS = {"thread": 1000, "process": 256, "greenlet": 5000}
#: polling delays (s): huey polls every 0.1 to 10 s; past 10 minutes a new task waits that
#: long and a hung worker is noticed only after 3 x max_delay + 5 s
MAX_POLL_DELAY = 600.0
#: a dead worker is replaced at the next health check: at least one an hour
MAX_HEALTH_CHECK_INTERVAL = 3600.0
#: task and shutdown limits (s): past a day, write null (no limit). Timers of 1e308 s
#: overflow: a process worker's alarm fails every task
MAX_TIMEOUT = 86400.0
#: systemd gives a service TimeoutStartSec= (90 s by default) to send READY=1
MAX_STARTUP_TIMEOUT = 3600.0
#: an app path names a module and an attribute; a longer one is a mistake (and its
#: pattern match grows with the square of its length)
MAX_APP_PATH = 500
#: control characters have no place in a name, path or log format (NUL cannot even be
#: passed to the system, a newline would split a STATUS= line); tab may appear
CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f]")
#: open files a thread or greenlet worker may hold (measured: 1 on Redis, 2 on SQLite:
#: the database and its -wal file), and what the daemon holds besides its workers
FILES_PER_WORKER = 2
FILES_BESIDES = 64


def control_character(value: Any) -> str | None:
    """What is wrong with a name, path or format (or a list of paths) holding a control
    character, or None."""
    for text in value if isinstance(value, tuple) else (value,):
        found = CONTROL.search(text) if isinstance(text, str) else None
        if found:
            return f"contains the control character U+{ord(found.group()):04X}"
    return None


def workers_problem(workers: int, worker_type: str) -> str | None:
    most = MAX_WORKERS[worker_type]
    return None if workers <= most else f"at most {most} {worker_type} workers, got {workers}"


def open_files_problem(workers: int, worker_type: str) -> str | None:
    """Raise this process's soft limit of open files to what the workers need, if the hard
    limit allows; else what is wrong. Process workers each have their own files."""
    per_process = 1 if worker_type == "process" else workers
    need = FILES_BESIDES + FILES_PER_WORKER * per_process
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or need <= soft:
        return None
    if hard == resource.RLIM_INFINITY or need <= hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
            return None
        except (OSError, ValueError):
            pass  # a security policy forbids it (the unit allows it: prlimit64 is not in
            # @resources, and glibc's setrlimit calls prlimit64)
    return (f"{workers} {worker_type} workers need about {need} open files, but this "
            f"process may open {soft} (raise LimitNOFILE= in a drop-in, or use fewer workers)")


def listen_problem(value: str) -> str | None:
    """What is wrong with a ``metrics.listen`` address (HOST:PORT), or None."""
    try:
        parse_listen(value)
    except ValueError as exc:
        return str(exc)
    return None
