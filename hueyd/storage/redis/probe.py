"""What the Redis server says about itself, read at ``hueyd check`` and at start: the
settings under which it would lose tasks without an error.

Everything is asked of the server (``INFO``, ``COMMAND INFO``, ``CONFIG GET``), never
inferred from a version string: Valkey 8/9 report their own versions and Redis 7.0
(Debian 12) lacks commands that later releases have, so only the answer to "do you
have X" is reliable. A server that refuses ``CONFIG`` (renamed, or an ACL without it)
gets no persistence verdict rather than a wrong one.
"""
from __future__ import annotations

from typing import Any

from redis import exceptions as redis_errors

#: commands hueyd needs (BLMOVE: Redis >= 6.2, every Valkey)
REQUIRED = ("BLMOVE",)


def commands(conn: Any, *names: str) -> dict[str, bool]:
    """Which of ``names`` the server knows, in one ``COMMAND INFO``."""
    replies = conn.execute_command("COMMAND", "INFO", *names)
    return {name: bool(reply) for name, reply in zip(names, replies)}


def _config(conn: Any, name: str) -> str | None:
    """One CONFIG value, or None if the server will not say."""
    try:
        reply = conn.config_get(name)
    except redis_errors.ResponseError:
        return None
    value = reply.get(name)
    return value.decode() if isinstance(value, bytes) else value


def eviction(info: dict[str, Any]) -> str | None:
    policy = info.get("maxmemory_policy")
    if isinstance(policy, bytes):
        policy = policy.decode()
    if policy and policy != "noeviction":
        return (f"maxmemory-policy is {policy}: at maxmemory the server evicts keys and "
                f"queued tasks, leases and results vanish without an error; set "
                f"maxmemory-policy noeviction")
    return None


def persistence(info: dict[str, Any], save: str | None) -> str | None:
    if save is None or "aof_enabled" not in info or str(info["aof_enabled"]) == "1" \
            or save.strip():
        return None
    return ("no persistence (appendonly no, save \"\"): a restart of the server loses "
            "every queued and scheduled task; turn on AOF (appendonly yes) or RDB snapshots")


def replica(info: dict[str, Any]) -> str | None:
    if info.get("role") in ("slave", "replica"):
        master = f"{info.get('master_host', '?')}:{info.get('master_port', '?')}"
        return (f"the server is a replica (of {master}): it refuses every write; give the "
                f"master's address, or a redis+sentinel:// URL that follows the master")
    return None


def server_warnings(conn: Any) -> list[str]:
    """One line per setting of the server that loses tasks or refuses hueyd (what an
    ACL does not let us ask is not judged)."""
    try:
        info = conn.info()
    except redis_errors.ResponseError:
        info = {}
    found = [eviction(info), persistence(info, _config(conn, "save")), replica(info)]
    try:
        missing = [name for name, known in commands(conn, *REQUIRED).items() if not known]
    except redis_errors.ResponseError:
        missing = []
    if missing:
        found.append(f"the server lacks {', '.join(missing)} (Redis >= 6.2 or Valkey needed): "
                     f"workers cannot take tasks")
    return [line for line in found if line]
