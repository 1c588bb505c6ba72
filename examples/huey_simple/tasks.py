"""The example's tasks: each shows one feature of the task API.

Messages printed from tasks are coloured so they stand out in the consumer's log.
"""
import os
import threading
import time

from config import huey

from hueyd import crontab
from hueyd.constants import EmptyData
from hueyd.exceptions import RetryTask, TaskTimeout
from hueyd.signals import SIGNAL_COMPLETE, SIGNAL_INTERRUPTED


def tprint(text, colour=32):
    """Print ``text`` in an ANSI colour (green unless told otherwise)."""
    print(f"\x1b[1;{colour}m{text}\x1b[0m", flush=True)


# -- plain tasks ------------------------------------------------------------------------
@huey.task()
def add(a, b):
    return a + b


@huey.task()
def mul(a, b):
    return a * b


@huey.task()
def total(numbers):
    return sum(numbers)


@huey.task()
def slow(seconds):
    tprint(f"going to sleep for {seconds} seconds")
    time.sleep(seconds)
    tprint(f"finished sleeping for {seconds} seconds")
    return seconds


# -- a retry: fails the first time, succeeds when retried (context=True passes the task)
@huey.task(retries=1, retry_delay=5, context=True)
def flaky_task(task=None):
    if task is not None and task.retries == 0:
        tprint("flaky task succeeded on retry.")
        return "succeeded on retry."
    tprint("flaky task is about to raise an exception.", 31)
    raise Exception("flaky task failed!")


# -- a pipeline built and awaited inside a task ----------------------------------------
@huey.task()
def add_pipeline(a, b, *numbers):
    """add(a, b), then add each of ``numbers`` to the running sum, one task each:
    add_pipeline(1, 2, 3, 4) -> [3, 6, 10]."""
    pipeline = add.s(a, b)
    for number in numbers:
        pipeline = pipeline.then(add, number)
    results = huey.enqueue(pipeline)
    tprint("enqueued pipeline of add() tasks.")
    return results.get(blocking=True)


# -- periodic tasks --------------------------------------------------------------------
@huey.periodic_task(crontab(minute="*/2"))
def every_other_minute():
    tprint("This task runs every 2 minutes.", 35)


@huey.periodic_task(crontab.hourly())
def every_hour():
    tprint("This task runs every hour.", 34)


# -- hooks: run in each worker when it starts and stops --------------------------------
@huey.on_startup()
def startup_hook():
    tprint(f"process {os.getpid()}, thread {threading.get_ident()} - startup hook")


@huey.on_shutdown()
def shutdown_hook():
    tprint(f"process {os.getpid()}, thread {threading.get_ident()} - shutdown hook")


# -- signals ---------------------------------------------------------------------------
@huey.signal(SIGNAL_COMPLETE)
def on_complete(signal, task, exc=None):
    tprint(f"received signal [{signal}] for task [{task}]")


@huey.signal(SIGNAL_INTERRUPTED)
def on_interrupted(signal, task, exc=None):
    tprint(f"received interrupted task signal for task: {task}")


# -- retry later while another run of the same task holds a marker ---------------------
@huey.task(context=True)
def hold_on(seconds, task=None):
    if task is not None and huey.storage.peek_data("hold_on") is not EmptyData:
        print("appears to be running...will retry in 60s")
        raise RetryTask(delay=60)
    huey.storage.put_data("hold_on", "1")
    try:
        print(f"in task, sleeping for {seconds}")
        time.sleep(seconds)
    finally:
        huey.storage.pop_data("hold_on")
    return True


# -- rate limiting: at most 2 calls a minute ------------------------------------------
@huey.task()
@huey.rate_limit("api", limit=2, per=60)
def api_call(n):
    return n + 1


# -- a time limit of 10 seconds --------------------------------------------------------
@huey.task(context=True, timeout=10)
def limit_time(seconds, task=None):
    """Process and greenlet workers are interrupted at the limit; a thread cannot be,
    so under thread workers the task checks the limit itself, once a second."""
    if os.environ.get("WORKER_CLASS") == "thread":
        for _ in range(int(seconds)):
            time.sleep(1)
            if task.is_timed_out:
                raise TaskTimeout
    else:
        time.sleep(seconds)
    return seconds


# -- a task that keeps a CPU busy ------------------------------------------------------
@huey.task()
def slow_cpu():
    for i in range(1_000_000_000):
        i % 13331  # noqa: B018 (busy work)
