"""The signing key, and the warnings about who can make the consumer run code.

Unpickling a message runs whatever its bytes say: anyone who can write the app's
queue, schedule or results (its Redis, its SQLite file) can make the consumer run
code as its user, unless every message is signed with a key that only the daemon
and its producers can read. ``secret_key_file`` names that key; without it, hueyd
says (one WARNING line each, at ``check`` and at start) where the storage is open
to others and where a file holding a password or the key is readable by everyone.
"""
from __future__ import annotations

import ipaddress
import os
import stat
from typing import TYPE_CHECKING, Any

from hueyd.daemon.config import SETTINGS, ConfigError
from hueyd.daemon.files import FileProblem, read_regular
from hueyd.daemon.redact import has_password

if TYPE_CHECKING:  # pragma: no cover
    from hueyd.api.huey import Huey
    from hueyd.daemon.config import Config

#: a key file is a line of text (``head -c 32 /dev/urandom | base64``: 45 bytes)
KEY_LIMIT = 4096
ADVICE = "set secret_key_file (man 8 hueyd, SECURITY)"


def key_label(config: Config) -> str:
    return "secret_key_file" if config.config_path else SETTINGS["secret_key_file"].option


def read_secret_key(config: Config) -> bytes | None:
    """The contents of ``secret_key_file`` without the trailing newline; None when
    none is set. ConfigError (naming the key and the file, never the key) if the file
    is missing, unreadable, not a regular file, empty or too long to be a key."""
    path = config.secret_key_file
    if not path:
        return None

    def fail(reason: str) -> ConfigError:
        return ConfigError(config.config_path, key_label(config), f"{path}: {reason}")

    try:  # a FIFO must not hang the start, nor /dev/zero fill the memory
        data = read_regular(path, KEY_LIMIT)
    except FileProblem as exc:
        raise fail(str(exc)) from None
    if len(data) > KEY_LIMIT:
        raise fail(f"longer than {KEY_LIMIT} bytes: not a key file")
    key = data.rstrip(b"\r\n")
    if not key.strip():
        raise fail("is empty")
    return key


def security_warnings(config: Config, huey: Huey) -> list[str]:
    """One line per way in which others can make this consumer run code."""
    found = []
    exposure = None if getattr(huey.serializer, "signed", False) else exposed(huey.backend)
    if exposure:
        found.append(f"messages are not signed and {exposure}: whoever can write there can "
                     f"make this consumer run code; {ADVICE}")
    secrets = []
    if config.config_path and config.redis_url and has_password(config.redis_url):
        secrets.append((config.config_path, "the Redis password"))
    if config.secret_key_file:
        secrets.append((config.secret_key_file, "the signing key"))
    for path, what in secrets:
        if _mode(path) & stat.S_IROTH:
            found.append(f"{path} holds {what} and every user can read it: chmod o-r {path}")
    return found


def exposed(storage: Any) -> str | None:
    """How others can write ``storage`` (Redis without a password or beyond loopback, an
    SQLite file in a folder every user may write to), or None."""
    pool = getattr(storage, "pool", None)
    params = getattr(pool, "connection_kwargs", None)
    if isinstance(params, dict):
        where = f"Redis at {getattr(storage, 'location', '?')}"
        if not params.get("password"):
            return f"{where} has no password"
        if not params.get("path") and not _loopback(str(params.get("host", "localhost"))):
            return f"{where} is reachable from other machines"
        return None
    filename = getattr(storage, "filename", None)
    if isinstance(filename, str) and filename and not filename.startswith(":memory:"):
        path = os.path.abspath(filename)
        folder = os.path.dirname(path)
        if _mode(folder) & stat.S_IWOTH:
            return f"the SQLite file {path} is in {folder}, which every user may write to"
        if _mode(path) & stat.S_IWOTH:
            return f"the SQLite file {path} is writable by every user"
    return None


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name: assume it leads to another machine


def _mode(path: str) -> int:
    try:
        return os.stat(path).st_mode
    except OSError:
        return 0
