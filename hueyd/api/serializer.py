"""Bytes <-> Python objects for the queue, the schedule and the key/value store.

pickle, optionally gzip/zlib-compressed, as huey's ``Serializer``; subclasses override
``_serialize``/``_deserialize`` as in huey (:class:`SignedSerializer` signs there, in
huey's format). On top, hueyd's own signing (``secret_key``, the daemon's
``secret_key_file``): an HMAC-SHA256 around the finished bytes, checked before anything
is decompressed or unpickled, since unpickling attacker-controlled bytes runs their
code. A message that fails a check is refused with :class:`MessageError` (a
``ValueError``, what huey's docs name for a bad signature).
"""
from __future__ import annotations

import gzip
import hashlib
import hmac
import pickle
import zlib
from typing import Any

from hueyd.api.exceptions import ConfigurationError, MessageError

#: marks a payload signed with hueyd's key; the 32-byte SHA-256 digest follows it
SIGNED_MAGIC = b"HDS1"
_DIGEST_SIZE = hashlib.sha256().digest_size
_GZIP_MAGIC = b"\x1f\x8b"

#: huey's name for :func:`hmac.compare_digest`
constant_time_compare = hmac.compare_digest


def encode(value: Any) -> bytes | None:
    """huey's ``encode``: bytes as they are, text as UTF-8, anything else by ``str()``,
    None stays None."""
    if value is None or isinstance(value, bytes):
        return value
    return str(value).encode("utf-8")


def is_compressed(data: bytes) -> bool:
    """True when ``data`` starts like a gzip or zlib stream (huey's test)."""
    return bool(data) and data[0] in (0x1F, 0x78)


class Serializer:
    """pickle + optional compression (huey's arguments) + optional HMAC-SHA256 (``secret_key``)."""

    def __init__(self, compression: bool = False, compression_level: int = 6,
                 use_zlib: bool = False, pickle_protocol: int = pickle.HIGHEST_PROTOCOL,
                 secret_key: str | bytes | None = None) -> None:
        self.compression = compression
        self.compression_level = compression_level
        self.use_zlib = use_zlib
        self.pickle_protocol = pickle_protocol or pickle.HIGHEST_PROTOCOL
        self._key = encode(secret_key) if secret_key else None

    @property
    def signed(self) -> bool:
        """True when nothing is unpickled before a signature check passes."""
        return self._key is not None

    def set_secret_key(self, secret_key: str | bytes) -> None:
        """Sign and verify with ``secret_key`` from now on (the daemon's key file)."""
        if not secret_key:
            raise ConfigurationError("the secret key is empty")
        self._key = encode(secret_key)

    def _serialize(self, obj: Any) -> bytes:
        return pickle.dumps(obj, self.pickle_protocol)

    def _deserialize(self, data: bytes) -> Any:
        return pickle.loads(data)

    def serialize(self, obj: Any) -> bytes:
        data = self._serialize(obj)
        if self.compression:
            data = (zlib.compress(data, self.compression_level) if self.use_zlib
                    else gzip.compress(data, self.compression_level))
        if self._key is not None:
            data = SIGNED_MAGIC + self._digest(data) + data
        return data

    def deserialize(self, data: bytes) -> Any:
        """The object in ``data``; :class:`MessageError` if it is unsigned, forged or unreadable."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise MessageError(f"expected bytes, got {type(data).__name__}")
        data = bytes(data)
        if self._key is not None:
            data = self._verify(data)
        data = self._decompress(data)
        try:
            return self._deserialize(data)
        except MessageError:
            raise
        except Exception as exc:
            raise MessageError(f"undecodable message: {type(exc).__name__}: {exc}") from None

    def _digest(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()

    def _verify(self, data: bytes) -> bytes:
        head = len(SIGNED_MAGIC) + _DIGEST_SIZE
        if not data.startswith(SIGNED_MAGIC) or len(data) < head:
            raise MessageError("missing signature")
        digest, payload = data[len(SIGNED_MAGIC):head], data[head:]
        if not hmac.compare_digest(digest, self._digest(payload)):
            raise MessageError("bad signature")
        return payload

    def _decompress(self, data: bytes) -> bytes:
        if not self.compression:
            return data
        try:
            if data.startswith(_GZIP_MAGIC):
                return gzip.decompress(data)
            if data[:1] == b"\x78":
                return zlib.decompress(data)
        except Exception as exc:
            raise MessageError(f"undecodable message: {type(exc).__name__}: {exc}") from None
        # Written before compression was switched on: plain pickle, as huey accepts.
        return data


class SignedSerializer(Serializer):
    """huey's signing serializer, in huey's format: the pickle, ``b":"``, then the hex
    HMAC-SHA1 of the pickle keyed with SHA1(salt + secret), all compressed when asked.
    A Huey given one reads what huey 3.5.4 wrote with the same secret and salt, and
    huey reads what it writes. The signature is checked before the pickle is loaded;
    a mismatch is a :class:`MessageError`, which is the ``ValueError`` huey raises."""

    separator = b":"

    def __init__(self, secret: str | bytes | None = None, salt: str | bytes = "huey",
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not secret or not salt:
            raise ConfigurationError(f"The secret and salt parameters are required by "
                                     f"{type(self).__name__}")
        self.secret, self.salt = encode(secret), encode(salt)
        self._signing_key = hashlib.sha1(self.salt + self.secret).digest()

    @property
    def signed(self) -> bool:
        return True

    def _signature(self, message: bytes) -> bytes:
        return hmac.new(self._signing_key, message, hashlib.sha1).hexdigest().encode("ascii")

    def _serialize(self, obj: Any) -> bytes:
        message = super()._serialize(obj)
        return message + self.separator + self._signature(message)

    def _deserialize(self, data: bytes) -> Any:
        message, separator, signature = data.rpartition(self.separator)
        if not separator:
            raise MessageError(f"Separator {self.separator!r} not found")
        if not constant_time_compare(signature, self._signature(message)):
            raise MessageError("Signature mismatch")
        return super()._deserialize(message)
