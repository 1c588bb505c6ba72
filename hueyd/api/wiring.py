"""How the Huey facade holds its helpers: attributes that rebuild them when set, and
methods that forward to one of them."""
from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from hueyd.api.storage_link import link

if TYPE_CHECKING:  # pragma: no cover
    from hueyd.storage.base import Storage

R = TypeVar("R")


def load_class(path: str) -> Any:
    """``"package.module:Name"`` or huey's ``"package.module.Name"``, imported now."""
    module, colon, name = path.partition(":")
    if not colon:
        module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def load_storage_class(spec: type[Storage] | str) -> type[Storage]:
    """A storage class, or its import path (backends load lazily)."""
    return load_class(spec) if isinstance(spec, str) else spec


class Wired:
    """An attribute the helpers are built from: setting it calls ``_wire()`` once the
    owner has wired its helpers (``huey.results = False`` or a new storage takes effect
    at once, as in huey)."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.slot = "_" + name

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        try:
            return obj.__dict__[self.slot]
        except KeyError:  # not set yet: what a plain attribute would raise
            raise AttributeError(self.slot[1:]) from None

    def __set__(self, obj: Any, value: Any) -> None:
        obj.__dict__[self.slot] = value
        if "_executor" in obj.__dict__:
            obj._wire()


def delegate(part: str, method: Callable[..., R]) -> Callable[..., R]:
    """A method that calls ``method`` on the helper held in attribute ``part``; the
    line that declares it names the helper's method (docstring and signature kept)."""
    @functools.wraps(method)
    def forward(self: Any, *args: Any, **kwargs: Any) -> R:
        return method(getattr(self, part), *args, **kwargs)
    return forward


def create_consumer(huey: Any, **options: Any) -> Any:
    """huey's embedding, ``huey.create_consumer(workers=2, ...)``: a Consumer built with
    huey's keywords; its ``run()`` blocks until a signal or ``stop()``. Imported by name:
    the api layer never imports the consumer's."""
    return importlib.import_module("hueyd.consumer.consumer").Consumer(huey, **options)


class StorageSlot(Wired):
    """``huey.storage``: set with a storage of either kind, read as huey's interface;
    the same assignment sets ``huey.backend`` (hueyd's contract, which the helpers,
    consumer and daemon use) and rewires (:mod:`hueyd.api.storage_link`)."""

    def __set__(self, obj: Any, value: Any) -> None:
        obj.__dict__["backend"], interface = link(value, lambda: obj.utc)
        super().__set__(obj, interface)
