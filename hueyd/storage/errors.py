"""What a backend raises when the storage, not the caller, is at fault.

In a module of their own so that every part of a backend (connections, leases,
values) can raise them without importing the contract in :mod:`hueyd.storage.base`.
"""
from __future__ import annotations


class StorageError(Exception):
    """The backend could not be reached or refused an operation.

    Callers (workers, scheduler) back off and retry on this; everything else
    raised from a backend is a bug.
    """


class StorageRefused(StorageError):
    """The backend answered, and refused: Redis out of memory (``maxmemory``) or
    answering with an error, an SQLite file on a full disk or read-only. Unlike an
    outage, the next attempt reaches it too: a worker retries what it must store
    a few times, then sets the message aside (a dead letter naming the error).
    """


class StorageUnusable(StorageRefused):
    """The backend answered, and no retry can change its answer: a wrong password, a
    file that is not a database, a read-only file or folder.

    A :class:`StorageRefused` still, so workers back off and retry as for a refusal; the daemon
    stops on it with one line and exit 78 instead of waiting (systemd must not
    restart it in a loop either)."""
