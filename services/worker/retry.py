"""Retry arithmetic of a node's retry policy: which errors, how many attempts, how long between them."""

from __future__ import annotations

import random
from collections.abc import Callable

from jamjet_common.ir import ErrorClass, RetryPolicy
from services.worker.failures import Failure

DEFAULT_POLICY = RetryPolicy()
"""Used when the work item names none: 3 attempts, exponential backoff from 1 s up to 30 s."""
MAX_RETRY_AFTER_SECS = 3600.0
MAX_LEASE_DOUBLINGS = 6
_MAX_DOUBLINGS = 60
CUSTOM = "custom"


def max_attempts(policy: RetryPolicy | None) -> int:
    return max((policy or DEFAULT_POLICY).max_attempts, 1)


def retries(policy: RetryPolicy | None, failure: Failure) -> bool:
    """Whether ``failure`` may be retried: it is retryable and ``retryable_on`` is empty or lists its class.

    An unclassified retryable error matches no entry, so a policy that lists classes does not retry it.
    """
    if not failure.retryable:
        return False
    listed = (policy or DEFAULT_POLICY).retryable_on
    return not listed or any(_matches(entry, failure.error_class) for entry in listed)


def _matches(entry: ErrorClass, error_class: str | None) -> bool:
    if error_class is None:
        return False
    if isinstance(entry, dict):
        return entry.get(CUSTOM) == error_class
    return entry == error_class


def delay_for_attempt(
    policy: RetryPolicy | None, attempt: int, *, rng: Callable[[], float] = random.random
) -> float:
    """Seconds to wait before ``attempt`` (1 = the first retry); 0 before the first attempt."""
    if attempt <= 0:
        return 0.0
    policy = policy or DEFAULT_POLICY
    initial = max(float(policy.initial_delay), 0.0)
    match policy.backoff:
        case "fixed":
            delay = initial
        case "linear":
            delay = initial * attempt
        case _:
            delay = initial * 2.0 ** min(attempt - 1, _MAX_DOUBLINGS)
    delay = min(delay, max(float(policy.max_delay), 0.0))
    if policy.jitter:
        delay *= 0.5 + 0.5 * rng()
    return delay


def next_delay(policy: RetryPolicy | None, spent: int, retry_after: float | None) -> float | None:
    """Seconds until the next attempt after a failed one, or None when no attempts are left.

    ``spent``: attempts that counted against ``max_attempts`` before the one that failed.
    """
    if spent + 1 >= max_attempts(policy):
        return None
    if retry_after is not None:
        return min(max(retry_after, 0.0), MAX_RETRY_AFTER_SECS)
    return delay_for_attempt(policy, spent + 1)


def lease_expiry_delay(next_attempt: int) -> float:
    """Seconds before retrying a node whose worker died: ``2^min(next_attempt, 6)``, as the original."""
    return 2.0 ** min(next_attempt, MAX_LEASE_DOUBLINGS)
