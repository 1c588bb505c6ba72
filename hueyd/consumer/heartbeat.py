"""Heartbeat slots: where each role says "alive, and running task X since T".

Workers stamp monotonic time every loop and at task start, and keep a copy of
the message they are running, so the master can tell a hung worker from a busy
one and hand back (or fail) the task of a worker it had to kill. No IPC round
trip per task: threads and greenlets write attributes (:class:`LocalSlot`),
process workers write a slice of an anonymous shared mapping created before
fork (:class:`SharedSlot`). One writer per slot (its role); the master reads.
"""
from __future__ import annotations

import mmap
import pickle
import struct
from typing import NamedTuple

from hueyd.storage.base import Message


class Beat(NamedTuple):
    """One consistent reading of a slot. Times are ``time.monotonic()`` seconds.
    (A tuple: a thread worker builds three per task, and tuples are cheap to build.)"""

    beat: float = 0.0
    task_started: float | None = None
    task_id: str = ""
    task_name: str = ""
    #: role-specific number the role keeps across restarts (scheduler: last minute handled)
    mark: float = 0.0
    done: int = 0
    error: str = ""
    error_at: float = 0.0


class LocalSlot:
    """A slot for threads and greenlets: plain attributes read by the master thread."""

    def __init__(self) -> None:
        self._beat = Beat()
        self._message: Message | None = None

    def reset(self, now: float) -> None:
        """A new role takes the slot: fresh heartbeat, no task; mark, count, error stay."""
        self.end_task(now, counted=False)

    def beat(self, now: float) -> None:
        old = self._beat
        self._beat = Beat(now, old.task_started, old.task_id, old.task_name, old.mark,
                          old.done, old.error, old.error_at)

    def start_task(self, now: float, task_id: str, task_name: str,
                   message: Message | None) -> None:
        self._message = message
        old = self._beat
        self._beat = Beat(now, now, task_id, task_name, old.mark, old.done, old.error,
                          old.error_at)

    def end_task(self, now: float, counted: bool = True) -> None:
        self._message = None
        old = self._beat
        self._beat = Beat(now, None, "", "", old.mark, old.done + counted, old.error,
                          old.error_at)

    def record_error(self, now: float, text: str) -> None:
        self._beat = self._beat._replace(error=text[:ERROR_CAP], error_at=now)

    def set_mark(self, value: float) -> None:
        self._beat = self._beat._replace(mark=value)

    def read(self) -> Beat:
        return self._beat  # replaced whole on every write: always consistent

    def message(self) -> Message | None:
        return self._message


# -- shared memory layout ------------------------------------------------------------------
# seq (seqlock), beat, task_started (0 = idle), mark, error_at, done,
# then the lengths of task id, task name, error text and pickled message.
HEADER = struct.Struct("<Iddddq HHHI")
SEQ, BEAT, STARTED, MARK, ERROR_TIME, DONE, ID_LEN, NAME_LEN, ERROR_LEN, MESSAGE_LEN = range(10)
ID_CAP, NAME_CAP, ERROR_CAP = 64, 192, 240
SLOT_SIZE = 64 * 1024
MESSAGE_CAP = SLOT_SIZE - HEADER.size - ID_CAP - NAME_CAP - ERROR_CAP
_ID_AT = HEADER.size
_NAME_AT = _ID_AT + ID_CAP
_ERROR_AT = _NAME_AT + NAME_CAP
_MESSAGE_AT = _ERROR_AT + ERROR_CAP
#: message length meaning "too large to keep a copy"
TOO_LARGE = 0xFFFFFFFF


class SharedSlot:
    """A slot in a ``MAP_SHARED`` anonymous mapping, written by a forked worker.

    A seqlock keeps readings consistent: the writer makes ``seq`` odd, writes,
    makes it even; the reader retries while it is odd or changed.
    """

    def __init__(self, buffer: mmap.mmap, offset: int) -> None:
        self.view = memoryview(buffer)[offset:offset + SLOT_SIZE]

    def reset(self, now: float) -> None:
        """A new role takes the slot: fresh heartbeat, no task; mark, count, error stay.

        Only called while no process writes the slot (before spawn, after death).
        """
        self.end_task(now, counted=False)

    # -- writer side (the role) -----------------------------------------------------------
    def _begin(self) -> list:
        fields = list(HEADER.unpack_from(self.view))
        fields[SEQ] += 1  # odd: a write is in progress
        struct.pack_into("<I", self.view, 0, fields[SEQ])
        return fields

    def _commit(self, fields: list) -> None:
        HEADER.pack_into(self.view, 0, *fields)  # seq still odd
        struct.pack_into("<I", self.view, 0, fields[SEQ] + 1)  # even again: done

    def beat(self, now: float) -> None:
        fields = self._begin()
        fields[BEAT] = now
        self._commit(fields)

    def start_task(self, now: float, task_id: str, task_name: str,
                   message: Message | None) -> None:
        fields = self._begin()
        fields[ID_LEN] = self._put_text(_ID_AT, ID_CAP, task_id)
        fields[NAME_LEN] = self._put_text(_NAME_AT, NAME_CAP, task_name)
        fields[MESSAGE_LEN] = self._put_message(message)
        fields[BEAT], fields[STARTED] = now, now
        self._commit(fields)

    def end_task(self, now: float, counted: bool = True) -> None:
        fields = self._begin()
        fields[BEAT], fields[STARTED], fields[ID_LEN], fields[NAME_LEN], fields[MESSAGE_LEN] = now, 0.0, 0, 0, 0
        fields[DONE] += counted
        self._commit(fields)

    def record_error(self, now: float, text: str) -> None:
        fields = self._begin()
        fields[ERROR_LEN] = self._put_text(_ERROR_AT, ERROR_CAP, text)
        fields[ERROR_TIME] = now
        self._commit(fields)

    def set_mark(self, value: float) -> None:
        fields = self._begin()
        fields[MARK] = value
        self._commit(fields)

    def _put_text(self, at: int, cap: int, text: str) -> int:
        data = text.encode("utf-8", "replace")[:cap]
        self.view[at:at + len(data)] = data
        return len(data)

    def _put_message(self, message: Message | None) -> int:
        if message is None:
            return 0
        try:
            data = pickle.dumps(message, pickle.HIGHEST_PROTOCOL)
        except Exception:  # an exotic receipt: the master just cannot hand it back
            return TOO_LARGE
        if len(data) > MESSAGE_CAP:
            return TOO_LARGE
        self.view[_MESSAGE_AT:_MESSAGE_AT + len(data)] = data
        return len(data)

    # -- reader side (the master) ---------------------------------------------------------
    def _consistent(self, end: int) -> tuple[tuple, bytes]:
        """Header fields and the bytes up to ``end``, read under the seqlock."""
        for _ in range(1000):
            fields = HEADER.unpack_from(self.view)
            if fields[SEQ] % 2 == 0:
                body = bytes(self.view[:end])
                if struct.unpack_from("<I", self.view)[0] == fields[SEQ]:
                    return fields, body
        return fields, bytes(self.view[:end])  # the writer died mid-write: best effort

    def read(self) -> Beat:
        fields, body = self._consistent(_MESSAGE_AT)
        _, beat, started, mark, error_at, done, n_id, n_name, n_err, _ = fields
        return Beat(beat=beat, task_started=started or None,
                    task_id=_text(body, _ID_AT, n_id), task_name=_text(body, _NAME_AT, n_name),
                    mark=mark, done=done, error=_text(body, _ERROR_AT, n_err),
                    error_at=error_at)

    def message(self) -> Message | None:
        """The message of the running task, if the slot could keep a copy."""
        fields, body = self._consistent(SLOT_SIZE)
        length = fields[MESSAGE_LEN]
        if not fields[STARTED] or length in (0, TOO_LARGE):
            return None
        return pickle.loads(body[_MESSAGE_AT:_MESSAGE_AT + length])


def _text(body: bytes, at: int, length: int) -> str:
    return body[at:at + length].decode("utf-8", "replace")


Slot = LocalSlot | SharedSlot


def make_slots(count: int, shared: bool) -> list[Slot]:
    """``count`` slots; shared ones live in one mapping that forked children inherit."""
    if not shared:
        return [LocalSlot() for _ in range(count)]
    buffer = mmap.mmap(-1, SLOT_SIZE * count)  # anonymous + MAP_SHARED
    return [SharedSlot(buffer, i * SLOT_SIZE) for i in range(count)]
