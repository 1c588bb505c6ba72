"""Await task results from asyncio code (huey's ``huey.contrib.asyncio``).

Reading a result does not block in the storage (huey's neither): the coroutine asks,
and sleeps on the event loop between asks with a growing delay, so many results can
be awaited at once with ``asyncio.gather``.
"""
from __future__ import annotations

import asyncio
import time
from typing import Any

from hueyd.api.exceptions import ResultTimeout
from hueyd.api.result import Result, ResultGroup

#: the first pause between two reads of a result not ready yet (seconds)
FIRST_DELAY = 0.1


async def aget_result(res: Result, backoff: float = 1.15, max_delay: float = 1.0,
                      preserve: bool = False, timeout: float | None = None) -> Any:
    """The value of ``res`` once its task has run (TaskException if it failed);
    ResultTimeout after ``timeout`` seconds (None: wait as long as it takes)."""
    delay = FIRST_DELAY
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        try:  # one read, never a wait: a stored None is a result too
            return res.get(blocking=True, timeout=0, preserve=preserve)
        except ResultTimeout:
            pass
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            raise ResultTimeout(f"timed out waiting for the result of task {res.id}")
        await asyncio.sleep(delay if remaining is None else min(delay, remaining))
        delay = min(delay * backoff, max_delay)


async def aget_result_group(rg: ResultGroup, *args: Any, **kwargs: Any) -> list[Any]:
    """Every value of ``rg`` (``aget_result``'s options apply to each), in order; if one
    fails, the others are cancelled and the error is raised."""
    waits = [asyncio.ensure_future(aget_result(r, *args, **kwargs)) for r in rg]
    try:
        return list(await asyncio.gather(*waits))
    except BaseException:
        for wait in waits:
            wait.cancel()
        await asyncio.gather(*waits, return_exceptions=True)
        raise
