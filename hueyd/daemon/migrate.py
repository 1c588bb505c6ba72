"""``hueyd migrate from-huey``: what a stopped huey deployment holds, into the instance.

The application is loaded as ``hueyd run`` loads it (its storage, its signing key);
huey's keys are read on the instance's own Redis (or ``--from-url``) under the same
Huey name. Each entry is written to hueyd's storage first and removed from huey's
after, so an interruption loses nothing; a task whose id hueyd already holds
(queued or scheduled) and a value whose key it already holds are not written again,
so a second run moves nothing twice. An entry that cannot be read or converted is
reported with its reason and left in huey's keys; nothing is run here.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import redis

from hueyd.api.clock import to_posix
from hueyd.daemon import huey_convert, huey_format
from hueyd.daemon.admin import _unreachable, describe_storage
from hueyd.daemon.config import ConfigError
from hueyd.daemon.huey_format import Refused
from hueyd.daemon.huey_source import Entry, HueySource, Value
from hueyd.daemon.loader import load_app, storage_refused
from hueyd.daemon.redact import redact
from hueyd.exitcodes import EX_OK
from hueyd.storage.base import StorageError, StorageUnusable
from hueyd.storage.memory import MemoryStorage
from hueyd.storage.redis.client import build_pool

if TYPE_CHECKING:  # pragma: no cover
    from hueyd.api.huey import Huey
    from hueyd.api.task import Task
    from hueyd.daemon.config import Config

#: refusals printed one per line; past this many, one line says how many more
MAX_REASONS = 20


@dataclass
class Tally:
    """What a run moved (or, dry, would move), skipped and refused."""

    queued: int = 0
    scheduled: int = 0
    results: int = 0
    present: int = 0
    locks: int = 0
    refused: list[str] = field(default_factory=list)

    def lines(self, dry_run: bool) -> list[str]:
        moved = "would move" if dry_run else "moved"
        lines = [f"queued     {self.queued} {moved}",
                 f"scheduled  {self.scheduled} {moved}",
                 f"results    {self.results} {moved}",
                 f"skipped    {self.present + self.locks} (already in hueyd: "
                 f"{self.present}, huey locks and rate limits: {self.locks})",
                 f"refused    {len(self.refused)} (left in huey's keys)"]
        lines += [f"refused: {reason}" for reason in self.refused[:MAX_REASONS]]
        if len(self.refused) > MAX_REASONS:
            lines.append(f"refused: ... and {len(self.refused) - MAX_REASONS} more")
        return lines


def app_packages(huey: Huey, app: str | None) -> frozenset[str]:
    """Top-level packages of the app's tasks and of its import path: whose classes a
    task argument or a result may name."""
    names = [*huey.registry.names, app or ""]
    return frozenset(name.partition(".")[0] for name in names if name)


class Migration:
    """One pass over huey's keys into ``huey``'s storage (changing nothing if ``dry_run``)."""

    def __init__(self, huey: Huey, source: HueySource, packages: frozenset[str],
                 dry_run: bool) -> None:
        self.huey, self.source, self.packages, self.dry_run = huey, source, packages, dry_run
        self.key = huey_format.HueyKey.of(huey.serializer)
        self.storage = huey.backend  # hueyd's contract: POSIX times, priorities
        self.tally = Tally()
        self.present: set[str] = set()

    def run(self) -> Tally:
        self.present = {t.id for t in self.huey.pending()} | \
            {t.id for t in self.huey.scheduled()}
        for entry in self.source.queued():
            self._queued(entry)
        for entry in self.source.scheduled():
            self._scheduled(entry)
        for value in self.source.values():
            self._value(value)
        return self.tally

    def _task(self, entry: Entry, where: str) -> tuple[Task, bytes] | None:
        """The task in huey's entry and its message in hueyd's format, or None (refused)."""
        try:
            task = huey_convert.task(huey_format.message(entry.data, self.packages, self.key),
                                     self.huey)
            return task, self._encoded(lambda: self.huey.serialize_task(task))
        except Refused as exc:
            self.tally.refused.append(f"{where}: {exc}")
            return None

    @staticmethod
    def _encoded(encode: Callable[[], bytes]) -> bytes:
        """hueyd's bytes for what was read; Refused when the app's serializer cannot."""
        try:
            return encode()
        except Exception as exc:  # a value the instance's serializer refuses
            raise Refused(f"cannot re-encode: {type(exc).__name__}: {exc}") from None

    def _write(self, task_id: str, write: Callable[[], None]) -> bool:
        """Write unless hueyd holds the id already; True if written (or would be)."""
        if task_id in self.present:
            self.tally.present += 1
            return False
        if not self.dry_run:
            write()
            self.present.add(task_id)
        return True

    def _queued(self, entry: Entry) -> None:
        found = self._task(entry, self.source.queue_key)
        if found is None:
            return
        task, data = found
        if self._write(task.id, lambda: self.storage.enqueue(data, task.priority)):
            self.tally.queued += 1
        if not self.dry_run:
            self.source.remove_queued(entry)

    def _scheduled(self, entry: Entry) -> None:
        found = self._task(entry, self.source.schedule_key)
        if found is None:
            return
        task, data = found
        due = entry.score if task.eta is None else to_posix(task.eta, self.huey.utc)
        if self._write(task.id, lambda: self.storage.add_to_schedule(data, due, task.priority)):
            self.tally.scheduled += 1
        if not self.dry_run:
            self.source.remove_scheduled(entry)

    def _value(self, value: Value) -> None:
        """A result, a revocation or a value the app put; huey's locks and rate-limit
        windows stay where they are."""
        key = value.key
        if huey_convert.is_bookkeeping(key, self.huey.name):
            self.tally.locks += 1
            return
        try:
            data = self._converted(key, value.data)
        except Refused as exc:
            where = value.string_key.decode("utf-8", "replace") if value.string_key \
                else f"{self.source.results_key} {key}"
            self.tally.refused.append(f"{where}: {exc}")
            return
        if self.storage.has_data_for_key(key):
            self.tally.present += 1
        else:
            self.tally.results += 1
            if not self.dry_run:
                self.storage.put_data(key, data, is_result=huey_convert.is_result(key))
        if not self.dry_run:
            self.source.remove_value(value)

    def _converted(self, key: str, raw: bytes) -> bytes:
        value = huey_format.load(raw, self.packages, self.key)
        if huey_convert.is_revocation(key):
            return huey_convert.revocation(value, self.huey.utc)
        return self._encoded(lambda: self.huey.serializer.serialize(value))


def source_pool(config: Config, huey: Huey, from_url: str | None) -> Any:
    """The Redis pool of huey's keys: ``--from-url``, or the instance's own Redis."""
    if from_url:
        try:
            return build_pool(from_url, None, None, {})[0]
        except ValueError as exc:
            raise ConfigError(config.config_path, "--from-url", str(exc)) from None
    pool = getattr(huey.storage, "pool", None)
    if isinstance(pool, redis.ConnectionPool):
        return pool
    raise ConfigError(config.config_path, "--from-url", f"the instance's storage is "
                      f"{describe_storage(huey.storage)}, not Redis: name huey's Redis "
                      "with --from-url redis://HOST:PORT/DB")


def open_source(config: Config, huey: Huey, from_url: str | None) -> HueySource:
    """huey's keys, once both Redis servers answered (a refusal names its setting)."""
    if isinstance(huey.storage, MemoryStorage):
        raise ConfigError(config.config_path, "app", "the instance's storage is in memory: "
                          "what moves would be lost when this command exits")
    source = HueySource(source_pool(config, huey, from_url), huey.name)
    try:
        source.ping()
    except StorageUnusable as exc:
        if not from_url:
            raise storage_refused(config, exc) from None
        raise ConfigError(config.config_path, "--from-url", f"refused: {exc}") from None
    return source


def from_huey_command(config: Config, dry_run: bool = False,
                      from_url: str | None = None) -> int:
    """Move (or, ``dry_run``, count) what huey holds; print the counts, one line each."""
    huey = load_app(config)
    source = None
    try:
        source = open_source(config, huey, from_url)
        huey.backend.ping()
        print(redact(f"hueyd: migrate from-huey{' --dry-run' if dry_run else ''}: huey "
                     f"{huey.name!r} at {source.location} -> "
                     f"{describe_storage(huey.storage)}"), flush=True)
        migration = Migration(huey, source, app_packages(huey, config.app), dry_run)
        try:
            migration.run()
        finally:
            print("\n".join(migration.tally.lines(dry_run)), flush=True)
    except StorageUnusable as exc:
        raise storage_refused(config, exc) from None
    except StorageError as exc:
        return _unreachable("migrate from-huey", exc)
    finally:
        huey.storage.close()
        if source is not None and from_url:
            source.pool.disconnect()
    return EX_OK
