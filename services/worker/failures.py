"""What went wrong in an attempt, classified once: retryable or fatal."""

from __future__ import annotations

from dataclasses import dataclass

from jamjet_common.errors import JamjetError, RetryableError

RETRYABLE_BUILTINS = (TimeoutError, ConnectionError)


@dataclass(frozen=True, slots=True)
class Failure:
    error: str
    retryable: bool
    retry_after: float | None = None
    """Seconds the failing code asked to wait; overrides the retry policy's delay."""


def classify(exc: BaseException) -> Failure:
    """Our own errors carry deliberate messages; foreign ones are described as ``Type: message``."""
    if isinstance(exc, RetryableError):
        return Failure(_message(exc), retryable=True, retry_after=exc.retry_after)
    return Failure(_message(exc), retryable=isinstance(exc, RETRYABLE_BUILTINS))


def _message(exc: BaseException) -> str:
    if isinstance(exc, JamjetError):
        return exc.message
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
