"""huey's decoded entries as hueyd's: a task message as a Task, a revocation as hueyd's
JSON entry, a value re-encoded with the instance's serializer (signed if it has a key).

The task goes through hueyd's own envelope checks (``Registry.from_envelope``), so a
field huey would accept and hueyd would not (an unknown task name, a time past 9999)
is refused here, with its reason, instead of by a worker later.
"""
from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING, Any

from hueyd.api.clock import to_posix
from hueyd.api.exceptions import MessageError
from hueyd.api.registry import ENVELOPE_VERSION
from hueyd.api.revocation import encode_entry
from hueyd.daemon.huey_format import HueyMessage, Refused

if TYPE_CHECKING:  # pragma: no cover
    from hueyd.api.huey import Huey
    from hueyd.api.task import Task

#: result keys huey writes: a task id (uuid4) or a chord member's ``chord:<id>:<index>``
RESULT_KEY = re.compile(r"(chord:)?[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}(:\d+)?")


def _instant(value: Any, utc: bool) -> Any:
    """A naive datetime in the Huey's clock as POSIX seconds (anything else is left for
    the envelope check to refuse)."""
    if not isinstance(value, dt.datetime):
        return value
    try:
        return to_posix(value, utc)
    except (ValueError, OverflowError, OSError) as exc:
        raise Refused(f"time {value!r} out of range: {exc}") from None


def envelope(msg: HueyMessage, utc: bool) -> dict[str, Any]:
    """hueyd's envelope for huey's message (nested tasks too)."""
    def nested(value: Any) -> Any:
        return envelope(value, utc) if isinstance(value, HueyMessage) else value

    chord = msg.chord_config
    if isinstance(chord, tuple) and len(chord) == 4:
        chord = (chord[0], chord[1], chord[2], nested(chord[3]))
    return {
        "v": ENVELOPE_VERSION, "id": msg.id, "name": msg.name,
        "eta": _instant(msg.eta, utc),
        "retries": 0 if msg.retries is None else msg.retries,
        "retry_delay": 0 if msg.retry_delay is None else msg.retry_delay,
        "retry_backoff": 0 if msg.retry_backoff is None else msg.retry_backoff,
        "priority": msg.priority,
        "args": () if msg.args is None else msg.args,
        "kwargs": {} if msg.kwargs is None else msg.kwargs,
        "expires": msg.expires, "expires_resolved": _instant(msg.expires_resolved, utc),
        "timeout": msg.timeout,
        "on_complete": nested(msg.on_complete), "on_error": nested(msg.on_error),
        "chord": chord,
    }


def task(msg: HueyMessage, huey: Huey) -> Task:
    """The hueyd Task for huey's message, as the ported app's registry knows it."""
    try:
        return huey.registry.from_envelope(envelope(msg, huey.utc), huey.utc)
    except MessageError as exc:
        raise Refused(f"task {msg.id}: {exc}") from None


def revocation(value: Any, utc: bool) -> bytes:
    """huey's ``(revoke_until, revoke_once)`` as hueyd's JSON entry."""
    if not (isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], bool)
            and (value[0] is None or isinstance(value[0], dt.datetime))):
        raise Refused("not a huey revocation (revoke_until, revoke_once)")
    until = None if value[0] is None else _instant(value[0], utc)
    return encode_entry(until, value[1])


def is_result(key: str) -> bool:
    """A task's result (expires where the storage expires results), not a value the app put."""
    return RESULT_KEY.fullmatch(key) is not None


def is_bookkeeping(key: str, huey_name: str) -> bool:
    """huey's ``lock_task`` locks and ``rate_limit`` windows: stale once huey's consumer
    stopped (hueyd keeps its own rate-limit counts, in its own format), so not moved."""
    return key.startswith((f"{huey_name}.lock.", f"{huey_name}.rl."))


def is_revocation(key: str) -> bool:
    return key.startswith(("r:", "rt:"))
