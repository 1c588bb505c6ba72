"""huey 3.x's stored bytes read without huey: its envelope, its results, its revocations.

huey writes ``pickle`` (optionally signed: ``<pickle>:<40 hex digits>``, then optionally
gzip- or zlib-compressed) of a ``huey.registry.Message`` namedtuple for a task, and of
the value itself for a result. Unpickling runs whatever callables the bytes name, so
the unpickler here resolves only an allowlist (:data:`SAFE_GLOBALS`): huey's Message,
Error and SKIPPED (mapped to local equivalents), standard value types, and classes
defined in the application's own packages (its task arguments and return values).
Anything else (``os.system``, ``builtins.eval``, a dotted name) is refused before it is
called: the entry is reported and left where it is.

A huey ``SignedSerializer``'s signature is checked when the ported app's serializer
has huey's ``secret`` and ``salt``; otherwise it is removed unchecked and this allowlist
is the only check. The data comes from the operator's own Redis; the app's classes are
trusted.
"""
from __future__ import annotations

import hashlib
import hmac
import importlib
import io
import pickle
import zlib
from dataclasses import dataclass
from typing import Any, NamedTuple

from hueyd.api.result import SKIPPED, Error

#: the most bytes one entry may decompress to (a compressed bomb is refused, not expanded)
MAX_DECOMPRESSED = 64 * 1024 * 1024
#: a huey signature: ``:`` and a hex SHA-1 HMAC after the pickle's STOP opcode
_SIGNATURE_LEN = 41
_HEX = frozenset(b"0123456789abcdef")


class Refused(Exception):
    """An entry that is not one huey wrote, or needs a global outside the allowlist."""


class HueyMessage(NamedTuple):
    """huey 3.5.4's ``registry.Message``: fields in its order, missing ones None."""

    id: Any = None
    name: Any = None
    eta: Any = None
    retries: Any = None
    retry_delay: Any = None
    priority: Any = None
    args: Any = None
    kwargs: Any = None
    on_complete: Any = None
    on_error: Any = None
    expires: Any = None
    expires_resolved: Any = None
    timeout: Any = None
    chord_config: Any = None
    retry_backoff: Any = None


#: (module, name) -> what it stands for here
HUEY_GLOBALS: dict[tuple[str, str], Any] = {
    ("huey.registry", "Message"): HueyMessage,
    ("huey.utils", "Error"): Error,
    ("huey.utils", "SKIPPED"): SKIPPED,
}

#: standard globals a plain value's pickle names; calling them builds a value, nothing else
SAFE_GLOBALS: dict[str, frozenset[str]] = {
    "builtins": frozenset({"set", "frozenset", "bytearray", "bytes", "complex", "range",
                           "slice", "list", "dict", "tuple", "str", "int", "float", "bool"}),
    "datetime": frozenset({"date", "datetime", "time", "timedelta", "timezone"}),
    "decimal": frozenset({"Decimal"}),
    "fractions": frozenset({"Fraction"}),
    "uuid": frozenset({"UUID"}),
    "collections": frozenset({"OrderedDict", "deque", "Counter"}),
    "_codecs": frozenset({"encode"}),  # bytes in a protocol 2 pickle
}


class _Unpickler(pickle.Unpickler):
    """Resolves only huey's names, :data:`SAFE_GLOBALS` and the app's own classes."""

    def __init__(self, data: bytes, app_packages: frozenset[str]) -> None:
        super().__init__(io.BytesIO(data))
        self.app_packages = app_packages

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in HUEY_GLOBALS:
            return HUEY_GLOBALS[(module, name)]
        if name in SAFE_GLOBALS.get(module, ()):
            return getattr(importlib.import_module(module), name)
        found = self._app_class(module, name)
        if found is None:
            raise Refused(f"needs global {module}.{name}, which migration does not call "
                          "(only huey's own names, standard value types and the app's classes)")
        return found

    def _app_class(self, module: str, name: str) -> type | None:
        if "." in name or module.partition(".")[0] not in self.app_packages:
            return None
        try:
            found = getattr(importlib.import_module(module), name, None)
        except Exception:  # an app module that does not import: not one of its classes
            return None
        return found if isinstance(found, type) else None

    def persistent_load(self, pid: Any) -> Any:
        raise Refused("needs a persistent id, which huey never writes")


def _decompress(data: bytes) -> bytes:
    """huey's gzip or zlib compression undone, bounded (its first byte tells, as in huey)."""
    if data[:1] not in (b"\x1f", b"\x78"):
        return data
    inflater = zlib.decompressobj(wbits=47)  # 32 + 15: a gzip or a zlib header
    try:
        plain = inflater.decompress(data, MAX_DECOMPRESSED + 1)
    except zlib.error as exc:
        raise Refused(f"compressed data that does not decompress: {exc}") from None
    if len(plain) > MAX_DECOMPRESSED:
        raise Refused(f"decompresses to more than {MAX_DECOMPRESSED} bytes")
    return plain


@dataclass(frozen=True)
class HueyKey:
    """huey's SignedSerializer key: HMAC-SHA1 keyed with SHA1(salt + secret)."""

    secret: bytes
    salt: bytes

    @classmethod
    def of(cls, serializer: Any) -> HueyKey | None:
        """The key of a serializer in huey's signed format (one with ``secret`` and
        ``salt``, as huey's and hueyd's SignedSerializer), or None."""
        secret, salt = getattr(serializer, "secret", None), getattr(serializer, "salt", None)
        if isinstance(secret, bytes) and isinstance(salt, bytes):
            return cls(secret, salt)
        return None

    def signature(self, message: bytes) -> bytes:
        key = hashlib.sha1(self.salt + self.secret).digest()
        return hmac.new(key, message, hashlib.sha1).hexdigest().encode("ascii")


def _unsigned(data: bytes, key: HueyKey | None) -> bytes:
    """The pickle without a huey SignedSerializer's ``:<hex digest>`` (a pickle ends in
    '.'), checked with ``key`` when there is one."""
    tail = data[-_SIGNATURE_LEN:]
    signed = (len(data) > _SIGNATURE_LEN and tail[:1] == b":" and set(tail[1:]) <= _HEX
              and data[-_SIGNATURE_LEN - 1:-_SIGNATURE_LEN] == b".")
    message = data[:-_SIGNATURE_LEN] if signed else data
    if key is not None:
        if not signed:
            raise Refused("not signed, and the app's SignedSerializer expects a signature")
        if not hmac.compare_digest(tail[1:], key.signature(message)):
            raise Refused("huey signature mismatch (another secret or salt)")
    return message


def load(data: bytes, app_packages: frozenset[str], key: HueyKey | None = None) -> Any:
    """The object huey stored in ``data``; :class:`Refused` with the reason otherwise."""
    if not isinstance(data, bytes) or not data:
        raise Refused("empty entry")
    plain = _unsigned(_decompress(data), key)
    try:
        return _Unpickler(plain, app_packages).load()
    except Refused:
        raise
    except RecursionError:
        raise Refused("not a huey entry: nested too deeply") from None
    except Exception as exc:  # garbage: any error the unpickler meets on the way
        raise Refused(f"not a huey entry: {type(exc).__name__}: {str(exc)[:80]}") from None


def message(data: bytes, app_packages: frozenset[str],
            key: HueyKey | None = None) -> HueyMessage:
    """The task message huey queued or scheduled in ``data``."""
    found = load(data, app_packages, key)
    if not isinstance(found, HueyMessage):
        raise Refused(f"not a huey task message (a {type(found).__name__})")
    return found
