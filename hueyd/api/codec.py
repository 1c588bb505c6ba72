"""A task to message bytes and back: the registry's envelope through the serializer."""
from __future__ import annotations

from typing import Any

from hueyd.api.exceptions import MessageError
from hueyd.api.registry import Registry
from hueyd.api.task import Task


class TaskCodec:
    """``encode``/``decode`` for one Huey: its serializer, registry and clock."""

    def __init__(self, serializer: Any, registry: Registry, utc: bool) -> None:
        self.serializer = serializer
        self.registry = registry
        self.utc = utc

    def encode(self, task: Task) -> bytes:
        return self.serializer.serialize(self.registry.to_envelope(task, self.utc))

    def decode(self, data: bytes) -> Task:
        """The task in ``data``; MessageError for garbage, a bad signature or an unknown task."""
        try:
            envelope = self.serializer.deserialize(data)
        except MessageError:
            raise
        except Exception as exc:  # a user-supplied serializer failing its own way
            raise MessageError(f"undecodable message: {type(exc).__name__}: {exc}") from None
        return self.registry.from_envelope(envelope, self.utc)
