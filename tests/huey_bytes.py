"""Bytes as huey 3.x's serializer writes them, made without huey: ``pickle.dumps`` of
huey's ``registry.Message`` (stand-in modules of huey's names exist only while it
pickles), then huey's signature (``:<hex HMAC-SHA1>``), then gzip or zlib."""
from __future__ import annotations

import collections
import gzip
import hashlib
import hmac
import pickle
import sys
import types
import zlib
from collections.abc import Callable
from typing import Any

FIELDS = ("id", "name", "eta", "retries", "retry_delay", "priority", "args", "kwargs",
          "on_complete", "on_error", "expires", "expires_resolved", "timeout",
          "chord_config", "retry_backoff")


def huey_modules() -> dict[str, types.ModuleType]:
    """Stand-ins for huey.registry and huey.utils, only to pickle as huey does."""
    registry, utils = types.ModuleType("huey.registry"), types.ModuleType("huey.utils")
    registry.Message = collections.namedtuple("Message", FIELDS,
                                              defaults=(None,) * len(FIELDS))
    registry.Message.__module__ = "huey.registry"
    utils.Error = collections.namedtuple("Error", ("metadata",))
    utils.Error.__module__ = "huey.utils"

    class _Skipped:
        def __reduce__(self):
            return "SKIPPED"
    utils.SKIPPED = _Skipped()
    _Skipped.__module__ = "huey.utils"
    return {"huey": types.ModuleType("huey"), "huey.registry": registry, "huey.utils": utils}


def as_huey(build: Callable[[dict[str, types.ModuleType]], Any], signed: bytes | None = None,
            compress: str | None = None) -> bytes:
    """huey's serializer: pickle, optionally signed, optionally compressed."""
    modules = huey_modules()
    saved = {name: sys.modules.get(name) for name in modules}
    sys.modules.update(modules)
    try:
        data = pickle.dumps(build(modules), pickle.HIGHEST_PROTOCOL)
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
    if signed is not None:
        key = hashlib.sha1(b"huey" + signed).digest()
        data += b":" + hmac.new(key, data, hashlib.sha1).hexdigest().encode()
    if compress == "gzip":
        data = gzip.compress(data)
    elif compress == "zlib":
        data = zlib.compress(data)
    return data


def huey_message(modules: dict[str, types.ModuleType], **fields: Any) -> Any:
    """A huey Message (inside ``as_huey``'s build); missing fields None, as huey does."""
    return modules["huey.registry"].Message(**fields)
