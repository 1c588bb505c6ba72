"""``from huey.constants import EmptyData`` ports as ``from hueyd.constants import EmptyData``.

Standard library only, importable from every layer: storage returns :class:`EmptyData`
for a missing key, and the daemon's config reads the worker types before gevent patches.
"""
from __future__ import annotations

WORKER_THREAD = "thread"
WORKER_GREENLET = "greenlet"
WORKER_PROCESS = "process"
#: the consumer's worker types (``-k``), in the order ``hueyd run --help`` lists them
WORKER_TYPES = (WORKER_THREAD, WORKER_PROCESS, WORKER_GREENLET)


class EmptyData:
    """What ``storage.peek_data``/``pop_data`` and ``huey.get_raw`` return for a key that
    holds nothing, so a stored ``None`` and no value at all stay apart (as in huey).
    The class itself is the sentinel: compare with ``is``."""
