"""huey's blocking ``Consumer.run()``, for a consumer embedded in a program of one's own.

In the main thread it stops on the graceful signal (SIGINT, or SIGTERM with
``graceful_signal="TERM"``), stops at once on the other, and re-executes the program
on SIGHUP, as huey's consumer does. In any other thread (no signal can be handled
there) it runs until another thread calls ``consumer.stop()``, and returns once that
stop is complete. The daemon never calls this: its master loop drives the consumer.
"""
from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from hueyd.consumer.consumer import Consumer

logger = logging.getLogger("hueyd.consumer")

#: how often the loop reaps, checks health and looks for a signal or a stop
POLL = 0.1


def run_blocking(consumer: Consumer) -> None:
    """Start ``consumer`` and supervise it until a signal or ``stop()`` ends it."""
    received: list[int] = []
    graceful, immediate = consumer.settings.stop_signals
    previous = _install(received, (graceful, immediate, signal.SIGHUP))
    try:
        consumer.start()
        next_check = time.monotonic() + consumer.settings.health_check_interval
        while not received and not consumer.stopping:
            time.sleep(POLL)
            consumer.reap()
            if consumer.settings.check_worker_health and time.monotonic() >= next_check:
                consumer.check_health()
                next_check = time.monotonic() + consumer.settings.health_check_interval
        if not received:  # stop() was called elsewhere: return once it is done
            consumer.stopped_event.wait()
            return
        logger.info("received %s", signal.Signals(received[0]).name)
        consumer.stop(graceful=received[0] != immediate)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if received[0] == signal.SIGHUP:
        logger.info("consumer restarting")
        os.execv(sys.executable, sys.orig_argv)
    logger.info("consumer exiting")


def stop_blocking(consumer: Consumer, graceful: bool, kill_grace: float) -> None:
    """``consumer.stop()``: with ``graceful``, wait for running tasks (up to
    ``shutdown_timeout``), then interrupt whatever still runs; SIGKILL what is left
    ``kill_grace`` seconds later."""
    consumer.request_stop()
    if graceful:
        logger.info("shutting down gracefully...")
        if _wait_stopped(consumer, consumer.settings.shutdown_timeout):
            logger.info("all workers have stopped")
            consumer.disconnect()
            return
        logger.warning("shutdown timeout of %ss elapsed, interrupting workers",
                       consumer.settings.shutdown_timeout)
    consumer.interrupt()
    if not _wait_stopped(consumer, kill_grace):
        consumer.kill_remaining()
        _wait_stopped(consumer, kill_grace)
    consumer.disconnect()
    logger.info("consumer stopped")


def _wait_stopped(consumer: Consumer, timeout: float | None) -> bool:
    deadline = None if timeout is None else time.monotonic() + timeout
    while not consumer.stopped:
        if deadline is not None and time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
        consumer.reap()
    return True


def _install(received: list[int], signals: tuple[int, ...]) -> dict[int, Any]:
    """Handlers that only record, in the main thread; the handlers they replace."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {signum: signal.signal(signum, lambda n, _f: received.append(n))
            for signum in signals}
