"""``from huey.utils import normalize_time`` ports as ``from hueyd.utils import normalize_time``."""
from contextlib import nullcontext as noop_context

from hueyd.api.clock import (
    aware_to_utc,
    is_naive,
    local_to_utc,
    make_naive,
    normalize_time,
    utcnow,
)
from hueyd.api.clock import normalize_expires as normalize_expire_time
from hueyd.api.registry import ChordConfig
from hueyd.api.result import SKIPPED, Error
from hueyd.api.serializer import encode
from hueyd.api.wiring import load_class
from hueyd.storage.file import FileLock

__all__ = ["SKIPPED", "ChordConfig", "Error", "FileLock", "aware_to_utc", "encode", "is_naive",
           "load_class", "local_to_utc", "make_naive", "noop_context", "normalize_expire_time",
           "normalize_time", "utcnow"]
