"""What went wrong in an attempt, classified once: retryable or fatal, and which class of error.

Classes are the names a retry policy's ``retryable_on`` lists: ``timeout``, ``io_error``,
``connection_reset``, ``rate_limit``, ``server_error``, or a custom name. ``RetryableError`` carries its
own (``error_class``); Python's timeouts and OS-level I/O errors are classified here.
"""

from __future__ import annotations

from dataclasses import dataclass

from jamjet_common.errors import JamjetError, RetryableError
from services.worker.sandbox import Refused

TIMEOUT = "timeout"
IO_ERROR = "io_error"
CONNECTION_RESET = "connection_reset"


@dataclass(frozen=True, slots=True)
class Failure:
    error: str
    retryable: bool
    retry_after: float | None = None
    """Seconds the failing code asked to wait; overrides the retry policy's delay."""
    error_class: str | None = None
    """What kind of transient failure it is; None when unclassified or fatal."""
    violation: str | None = None
    """The sandbox rule the node broke (a ``Refused`` error); recorded as a ``policy_violation``."""


def classify(exc: BaseException) -> Failure:
    """Our own errors carry deliberate messages; foreign ones are described as ``Type: message``."""
    if isinstance(exc, RetryableError):
        return Failure(_message(exc), True, exc.retry_after, exc.error_class)
    if isinstance(exc, Refused):
        return Failure(_message(exc), retryable=False, violation=exc.rule)
    builtin_class = _builtin_class(exc)
    return Failure(_message(exc), retryable=builtin_class is not None, error_class=builtin_class)


def _builtin_class(exc: BaseException) -> str | None:
    # TimeoutError and ConnectionResetError are OSErrors too: the most specific class wins.
    if isinstance(exc, TimeoutError):
        return TIMEOUT
    if isinstance(exc, ConnectionResetError):
        return CONNECTION_RESET
    if isinstance(exc, OSError):
        return IO_ERROR
    return None


def _message(exc: BaseException) -> str:
    if isinstance(exc, JamjetError):
        return exc.message
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
