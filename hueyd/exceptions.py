"""``from huey.exceptions import X`` ports as ``from hueyd.exceptions import X``."""
from hueyd import lazy
from hueyd.api.exceptions import (  # noqa: F401
    RETRYING_EXCEPTIONS,
    CancelExecution,
    ConfigurationError,
    EnqueueManyError,
    HueyException,
    MessageError,
    RateLimitExceeded,
    ResultTimeout,
    RetryTask,
    TaskException,
    TaskLockedException,
    TaskTimeout,
)

__all__ = ["CancelExecution", "ConfigurationError", "EnqueueManyError", "HueyException",
           "MessageError", "RateLimitExceeded", "ResultTimeout", "RetryTask", "TaskException",
           "TaskLockedException", "TaskTimeout"]

#: names added to huey's API later (``hueyd.api.exceptions``) come through as well
__getattr__, __dir__ = lazy.exports(__name__, {}, fallback="hueyd.api.exceptions")
