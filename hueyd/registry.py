"""``from huey.registry import Registry`` ports as ``from hueyd.registry import Registry``."""
from hueyd.api.exceptions import HueyException
from hueyd.api.registry import ChordConfig, Registry

__all__ = ["ChordConfig", "HueyException", "Registry"]
