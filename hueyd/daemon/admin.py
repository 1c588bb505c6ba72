"""``hueyd status`` and ``hueyd dead-letter``: what an operator asks of a queue.

Both load the application as ``hueyd run`` would (same configuration, same
storage overrides) and talk to its storage directly; no daemon needs to run.
Consumers are judged alive from their leases, which their schedulers renew
about once a second. An unreachable storage is one line on stderr and exit
69 (EX_UNAVAILABLE); the rendering is pure functions of what was read.
"""
from __future__ import annotations

import datetime as dt
import json
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hueyd.daemon.loader import load_app
from hueyd.daemon.redact import redact
from hueyd.exitcodes import EX_OK, EX_UNAVAILABLE
from hueyd.storage.base import DeadLetter, StorageError
from hueyd.storage.leases import ConsumerLease

if TYPE_CHECKING:  # pragma: no cover
    from hueyd.api.huey import Huey
    from hueyd.daemon.config import Config

#: bytes of a dead letter shown by ``dead-letter list``
PREVIEW = 48
#: a POSIX time past this is not one (year 5138): shown as "?"
MAX_TIME = 1e11


@dataclass(frozen=True)
class QueueStatus:
    """Everything ``hueyd status`` reports, as read from the storage."""

    name: str
    storage: str
    queued: int
    scheduled: int
    dead_letters: int
    consumers: list[ConsumerLease]

    @property
    def in_flight(self) -> int:
        return sum(c.in_flight for c in self.consumers)

    @property
    def alive(self) -> int:
        return sum(c.alive for c in self.consumers)


def describe_storage(storage: Any) -> str:
    """``RedisStorage 127.0.0.1:6379/0``, ``SqliteStorage /var/lib/...db``, ``FileStorage
    /var/lib/...``: ``huey.storage``, whose class is the app's (a view answers its
    backend's)."""
    kind = storage.__class__.__name__
    where = (getattr(storage, "location", None) or getattr(storage, "filename", None)
             or getattr(storage, "path", None))
    return redact(f"{kind} {where}") if isinstance(where, str) and where else kind


def read_status(huey: Huey) -> QueueStatus:
    storage = huey.backend
    return QueueStatus(huey.name, describe_storage(huey.storage), storage.queue_size(),
                       storage.schedule_size(), storage.dead_letter_count(),
                       storage.consumers())


def _when(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _line(value: Any, cap: int = 200) -> str:
    """A text from the storage, as one short line without a password."""
    return redact(" ".join(str(value).split()))[:cap] if isinstance(value, str) else ""


def consumer_report(card_report: Any) -> dict[str, Any]:
    """What the consumer's master last said about its workers (lease card; anything
    there came from whoever can write the storage: each field checked)."""
    report = card_report if isinstance(card_report, dict) else {}
    error = report.get("last_error")
    error = error if isinstance(error, dict) else {}
    at = error.get("at")
    at = at if isinstance(at, (int, float)) and 0 < at < MAX_TIME else None
    return {"busy": _count(report.get("busy")), "idle": _count(report.get("idle")),
            "completed_last_minute": _count(report.get("completed_1m")),
            "failed_last_minute": _count(report.get("failed_1m")),
            "last_error": {"task": _line(error.get("task"), 100),
                           "error": _line(error.get("error")),
                           "at": at}
            if error else None}


def status_json(status: QueueStatus) -> dict[str, Any]:
    return {
        "name": status.name, "storage": status.storage, "queued": status.queued,
        "scheduled": status.scheduled, "in_flight": status.in_flight,
        "dead_letters": status.dead_letters, "consumers_alive": status.alive,
        "consumers": [{"id": c.id, "host": c.card.host, "pid": c.card.pid,
                       "started": c.card.started, "lease_expires": c.expires,
                       "alive": c.alive, "in_flight": c.in_flight,
                       **consumer_report(c.card.report)}
                      for c in status.consumers],
    }


def _known(value: int | None) -> str:
    return "?" if value is None else str(value)


def _errors(status: QueueStatus) -> list[str]:
    """One line per consumer whose workers reported an error."""
    lines = []
    for c in status.consumers:
        error = consumer_report(c.card.report)["last_error"]
        if error:
            when = _when(error["at"]) if error["at"] else "?"
            lines.append(f"  last error on {c.id}: {error['task']} at {when}: "
                         f"{error['error']}")
    return lines


def status_table(status: QueueStatus) -> str:
    lines = [f"queue {status.name} ({status.storage})",
             f"  queued        {status.queued}",
             f"  scheduled     {status.scheduled}",
             f"  in flight     {status.in_flight}",
             f"  dead letters  {status.dead_letters}",
             f"consumers: {status.alive} alive, {len(status.consumers) - status.alive} gone"]
    if status.consumers:
        rows = [("ID", "HOST", "PID", "STARTED", "LEASE", "IN FLIGHT", "BUSY", "IDLE",
                 "DONE/1m", "FAILED/1m")]
        for c in status.consumers:
            lease = (f"alive, {c.remaining:.0f}s left" if c.alive else
                     f"expired {-c.remaining:.0f}s ago" if c.remaining < 0 else "process gone")
            seen = consumer_report(c.card.report)
            rows.append((c.id, c.card.host, str(c.card.pid),
                         _when(c.card.started) if c.card.started else "?", lease,
                         str(c.in_flight), _known(seen["busy"]), _known(seen["idle"]),
                         _known(seen["completed_last_minute"]),
                         _known(seen["failed_last_minute"])))
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        lines += ["  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()
                  for row in rows]
        lines += _errors(status)
    return "\n".join(lines)


def dead_letter_table(letters: list[DeadLetter], total: int) -> str:
    if not letters:
        return "no dead letters"
    lines = [f"{len(letters)} of {total} dead letter(s), oldest first:"]
    for letter in letters:
        preview = letter.data[:PREVIEW]
        more = "..." if len(letter.data) > PREVIEW else ""
        lines.append(f"  {letter.id}  {_when(letter.timestamp)}  {letter.reason}")
        lines.append(f"      {len(letter.data)} bytes: {preview!r}{more}")
    return "\n".join(lines)


def _unreachable(command: str, exc: StorageError) -> int:
    print(redact(f"hueyd: {command}: storage unreachable: {exc}"), file=sys.stderr, flush=True)
    return EX_UNAVAILABLE


def status_command(config: Config, as_json: bool) -> int:
    """Print queue length, scheduled, in flight per consumer, dead letters and the
    consumers alive, as a table or JSON."""
    huey = load_app(config)
    try:
        status = read_status(huey)
    except StorageError as exc:
        return _unreachable("status", exc)
    finally:
        huey.backend.close()
    if as_json:
        print(json.dumps(status_json(status), indent=2))
    else:
        print(status_table(status))
    return EX_OK


def dead_letter_command(config: Config, action: str, limit: int | None) -> int:
    """``list`` the dead letters, ``requeue`` them or ``purge`` them (the oldest
    ``limit``, or all)."""
    huey = load_app(config)
    storage = huey.backend
    try:
        if action == "list":
            print(dead_letter_table(storage.dead_letters(limit), storage.dead_letter_count()))
        elif action == "requeue":
            count = storage.requeue_dead_letters(limit)
            print(f"hueyd: {count} dead letter(s) of {huey.name} back on the queue")
        elif action == "purge":
            count = storage.purge_dead_letters(limit)
            print(f"hueyd: {count} dead letter(s) of {huey.name} purged")
        else:
            raise ValueError(f"unknown dead-letter action {action!r}")
    except StorageError as exc:
        return _unreachable(f"dead-letter {action}", exc)
    finally:
        storage.close()
    return EX_OK
