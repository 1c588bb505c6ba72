"""The tasks: one the form enqueues, one every five minutes (both print to the consumer's
output)."""
from app import huey

from hueyd import crontab


@huey.task()
def example_task(n):
    print(f"-- RUNNING EXAMPLE TASK: CALLED WITH n={n} --", flush=True)
    return n


@huey.periodic_task(crontab(minute="*/5"))
def print_every5_minutes():
    print("-- PERIODIC TASK -- THIS RUNS EVERY 5 MINUTES --", flush=True)
