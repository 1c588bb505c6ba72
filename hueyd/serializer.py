"""``from huey.serializer import SignedSerializer`` ports as
``from hueyd.serializer import SignedSerializer``."""
from hueyd.api.exceptions import ConfigurationError
from hueyd.api.serializer import (
    Serializer,
    SignedSerializer,
    constant_time_compare,
    encode,
    is_compressed,
)

__all__ = ["ConfigurationError", "Serializer", "SignedSerializer", "constant_time_compare",
           "encode", "is_compressed"]
