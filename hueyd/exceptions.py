"""``from huey.exceptions import X`` ports as ``from hueyd.exceptions import X``."""
from hueyd.api.exceptions import (  # noqa: F401
    RETRYING_EXCEPTIONS,
    CancelExecution,
    ConfigurationError,
    EnqueueManyError,
    HueyException,
    MessageError,
    ResultTimeout,
    RetryTask,
    TaskException,
    TaskLockedException,
    TaskTimeout,
)

__all__ = ["CancelExecution", "ConfigurationError", "EnqueueManyError", "HueyException",
           "MessageError", "ResultTimeout", "RetryTask", "TaskException", "TaskLockedException",
           "TaskTimeout"]
