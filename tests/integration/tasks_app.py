"""The application the integration tests run under ``hueyd run tasksapp.huey``.

Copied per test into a temporary directory as ``tasksapp.py``; the test process
loads the same file to enqueue tasks and read results. Everything comes from
the environment: HUEYD_TEST_STORAGE (a redis://, redis+sentinel:// or redis+cluster://
URL, or an SQLite file), HUEYD_TEST_NAME (the queue name), HUEYD_TEST_OUT (a directory for markers).
"""
import os
import signal
import threading
import time

import appversion  # rewritten by the SIGHUP test: loaded once, in the master

from hueyd import RedisHuey, SqliteHuey, crontab

STORAGE = os.environ["HUEYD_TEST_STORAGE"]
OUT = os.environ["HUEYD_TEST_OUT"]
NAME = os.environ.get("HUEYD_TEST_NAME", "itest")

if STORAGE.startswith(("redis://", "redis+sentinel://", "redis+cluster://")):
    huey = RedisHuey(NAME, url=STORAGE)
else:
    huey = SqliteHuey(NAME, filename=STORAGE)


def mark(name: str, text: str = "") -> None:
    """Append a line to a marker file: how the tests see what ran, and when."""
    with open(os.path.join(OUT, name), "a") as f:
        f.write(f"{time.time()} {os.getpid()} {text}\n")


@huey.task()
def add(a, b):
    return a + b


@huey.task()
def slow(seconds, name):
    mark(name, "start")
    time.sleep(seconds)
    mark(name, "done")
    return "finished"


@huey.task(retries=1, retry_delay=1)
def flaky(name):
    mark(name)
    if sum(1 for _ in open(os.path.join(OUT, name))) == 1:
        raise ValueError("first attempt fails")
    return "second attempt"


@huey.task()
def stamp(name):
    mark(name)
    return time.time()


@huey.task()
def drain(number, seconds=0.0):
    """One of many: marks its number (how a drain counts losses and duplicates)."""
    time.sleep(seconds)
    mark("drain", str(number))


@huey.task()
def whoami():
    """Which process runs tasks, its parent, and what it sees of systemd's variables."""
    return {"pid": os.getpid(), "ppid": os.getppid(),
            "env": {k: os.environ.get(k) for k in ("NOTIFY_SOCKET", "WATCHDOG_USEC",
                                                   "WATCHDOG_PID")}}


@huey.task()
def end_worker():
    """Ends the worker's loop, as huey's worker ends on SystemExit."""
    raise SystemExit(3)


@huey.task(retries=1)
def hang_once(name, seconds):
    """The first run hangs where only SIGKILL reaches it; the retry returns."""
    mark(name)
    if sum(1 for _ in open(os.path.join(OUT, name))) == 1:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM, signal.SIGTERM})
        time.sleep(seconds)
    return "second run"


@huey.task()
def version():
    return appversion.VERSION


@huey.task()
def read_stored(key, result=False):
    """Reads a result (``result=True``) or a key/value entry inside the consumer."""
    return huey.result(key, preserve=True) if result else huey.get(key, peek=True)


@huey.periodic_task(crontab())
def tick():
    mark("ticks")


@huey.task()
def blocked_signals():
    """The signal mask of the thread running this task (what a subprocess it starts
    would inherit), as the bits of /proc's SigBlk."""
    with open("/proc/thread-self/status") as f:
        fields = dict(line.split(":", 1) for line in f if ":" in line)
    return int(fields["SigBlk"], 16)


_RUNNER = threading.local()  # a thread, greenlet (patched) or process of its own: fresh


@huey.task()
def where():
    """A token per worker thread, greenlet or process: max_tasks recycles them."""
    if not hasattr(_RUNNER, "token"):
        _RUNNER.token = f"{os.getpid()}-{threading.get_native_id()}-{time.monotonic_ns()}"
    return _RUNNER.token


#: a lock the app declares: -f/--flush-locks flushes it at start
HELD = huey.lock_task("tasksapp-held")


@huey.task()
def fail(message):
    raise ValueError(message)


@huey.task()
def gate(name, seconds=30):
    """Holds its worker until the test creates marker ``name`` (at most ``seconds``)."""
    path = os.path.join(OUT, name)
    deadline = time.monotonic() + seconds
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.02)


@huey.task()
def module_file(name):
    """Where ``name`` is imported from in the worker (the app's virtualenv or Debian)."""
    import importlib
    return importlib.import_module(name).__file__


#: shared by every worker and process of every consumer: at most 4 calls an hour
@huey.task()
@huey.rate_limit("burst", limit=4, per=3600, retry=False)
def limited(n):
    return n
