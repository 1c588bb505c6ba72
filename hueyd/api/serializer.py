"""Bytes <-> Python objects for the queue, the schedule and the key/value store.

pickle, optionally gzip/zlib-compressed, optionally signed with HMAC-SHA256.
With a key set, the signature is checked before anything is decompressed or
unpickled: unpickling attacker-controlled bytes runs their code, so a message
with a wrong or missing signature is refused with :class:`MessageError`.
"""
from __future__ import annotations

import gzip
import hashlib
import hmac
import pickle
import zlib
from typing import Any

from hueyd.api.exceptions import ConfigurationError, MessageError

#: marks a signed payload; the 32-byte SHA-256 digest follows it
SIGNED_MAGIC = b"HDS1"
_DIGEST_SIZE = hashlib.sha256().digest_size
_GZIP_MAGIC = b"\x1f\x8b"


def _to_bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode("utf-8")


class Serializer:
    """pickle + optional compression + optional HMAC-SHA256 (``secret_key``)."""

    def __init__(self, compression: bool = False, compression_level: int = 6,
                 use_zlib: bool = False, pickle_protocol: int = pickle.HIGHEST_PROTOCOL,
                 secret_key: str | bytes | None = None) -> None:
        self.compression = compression
        self.compression_level = compression_level
        self.use_zlib = use_zlib
        self.pickle_protocol = pickle_protocol or pickle.HIGHEST_PROTOCOL
        self._key = _to_bytes(secret_key) if secret_key else None

    @property
    def signed(self) -> bool:
        return self._key is not None

    def set_secret_key(self, secret_key: str | bytes) -> None:
        """Sign and verify with ``secret_key`` from now on (the daemon's key file)."""
        if not secret_key:
            raise ConfigurationError("the secret key is empty")
        self._key = _to_bytes(secret_key)

    def serialize(self, obj: Any) -> bytes:
        data = pickle.dumps(obj, self.pickle_protocol)
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
            return pickle.loads(data)
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
    """huey's name for a signing serializer: ``SignedSerializer(secret, salt='huey')``."""

    def __init__(self, secret: str | bytes | None = None, salt: str | bytes = "huey",
                 **kwargs: Any) -> None:
        if not secret or not salt:
            raise ConfigurationError("SignedSerializer needs both secret and salt")
        super().__init__(secret_key=_to_bytes(salt) + b":" + _to_bytes(secret), **kwargs)
