"""Reading a small file an operator points us at, without hanging or reading forever.

A configuration or key path may name a FIFO (open() would wait for a writer),
/dev/zero (read() never ends), a directory or a socket. Only a regular file is
read, opened without blocking, and at most ``limit + 1`` bytes of it, so the
caller can tell "too large" from "exactly the limit".
"""
from __future__ import annotations

import os
import stat

FILE_TYPES = {stat.S_IFDIR: "a directory", stat.S_IFIFO: "a FIFO", stat.S_IFCHR:
              "a character device", stat.S_IFBLK: "a block device", stat.S_IFSOCK: "a socket"}


class FileProblem(Exception):
    """Why the file cannot be read (one phrase, e.g. ``cannot read: not a regular file``)."""


def read_regular(path: str, limit: int) -> bytes:
    """At most ``limit + 1`` bytes of the regular file ``path``."""
    try:
        _regular(os.stat(path).st_mode)  # a socket cannot even be opened
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        raise FileProblem(f"cannot read: {exc.strerror or exc}") from None
    try:
        _regular(os.fstat(fd).st_mode)  # what was opened, if the path changed meanwhile
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)
    except OSError as exc:
        raise FileProblem(f"cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def _regular(mode: int) -> None:
    kind = stat.S_IFMT(mode)
    if kind != stat.S_IFREG:
        raise FileProblem(f"cannot read: not a regular file ({FILE_TYPES.get(kind, 'special')})")
