"""A few bytes one process writes and another reads, consistent without a lock.

A slice of an anonymous ``MAP_SHARED`` mapping made before fork: the writer bumps a
sequence number to odd, writes, bumps it to even; a reader retries while it is odd
or changed (a seqlock, as the heartbeat slots use). Used for a process worker's
counts (metrics.py) and the master's report that the scheduler puts on the lease
card (for ``hueyd status``). :class:`LocalMailbox` is the same for threads.
"""
from __future__ import annotations

import mmap
import struct

_HEAD = struct.Struct("<IQ")  # sequence number, length of the contents


class SharedMailbox:
    def __init__(self, buffer: mmap.mmap, offset: int, size: int) -> None:
        self.view = memoryview(buffer)[offset:offset + size]

    def write(self, data: bytes) -> bool:
        """False (nothing written) when ``data`` does not fit."""
        if len(data) > len(self.view) - _HEAD.size:
            return False
        seq = _HEAD.unpack_from(self.view)[0] + 1
        _HEAD.pack_into(self.view, 0, seq, len(data))  # odd: being written
        self.view[_HEAD.size:_HEAD.size + len(data)] = data
        _HEAD.pack_into(self.view, 0, seq + 1, len(data))
        return True

    def read(self) -> bytes:
        """The contents (b"" if never written, or if its writer died mid-write)."""
        for _ in range(1000):
            seq, length = _HEAD.unpack_from(self.view)
            if seq % 2:
                continue
            data = bytes(self.view[_HEAD.size:_HEAD.size + length])
            if _HEAD.unpack_from(self.view)[0] == seq:
                return data
        return b""


class LocalMailbox:
    """The same for roles sharing the reader's memory (threads, greenlets)."""

    def __init__(self) -> None:
        self.data = b""

    def write(self, data: bytes) -> bool:
        self.data = data
        return True

    def read(self) -> bytes:
        return self.data


Mailbox = SharedMailbox | LocalMailbox


def make_mailboxes(count: int, size: int, shared: bool) -> list[Mailbox]:
    """``count`` mailboxes of ``size`` bytes; shared ones in one mapping forked children
    inherit (pages never written cost no memory)."""
    if not shared:
        return [LocalMailbox() for _ in range(count)]
    buffer = mmap.mmap(-1, size * count)
    return [SharedMailbox(buffer, i * size, size) for i in range(count)]
